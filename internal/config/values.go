package config

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as "500ms", "2s", "1m30s".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Size is a byte count written as a plain integer or with a unit: "512",
// "32KiB", "10MiB", "1GiB" (powers of 1024) or "64KB", "10MB" (powers of 1000).
type Size int64

// String formats d the way it is written in a file ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d as "1m30s", so that YAML and JSON show what a file says.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a Go duration ("500ms", "2s", "1m30s"); a bare "0" is
// zero. Negative durations are refused: no setting means "in the past".
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: write it like 500ms, 2s or 1m30s", s)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	*d = Duration(v)
	return nil
}

// sizeUnits returns the suffixes Size accepts, longest first within each family
// so that "KiB" is not read as "B".
func sizeUnits() [9]sizeUnit {
	return [...]sizeUnit{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"B", 1},
	}
}

type sizeUnit struct {
	suffix string
	mult   int64
}

// String formats s with the largest binary unit that divides it exactly.
func (s Size) String() string {
	units := sizeUnits()
	for i := 3; i >= 0; i-- {
		u := units[i]
		if s != 0 && int64(s)%u.mult == 0 {
			return strconv.FormatInt(int64(s)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalText writes s as String does.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "512", "512B", "32KiB", "10MiB", "64KB", "10MB" and so
// on. Units are case-sensitive: "kb" and "Mb" are refused rather than
// guessed at, since a bit is not a byte.
func (s *Size) UnmarshalText(b []byte) error {
	str := strings.TrimSpace(string(b))
	num, mult := str, int64(1)
	for _, u := range sizeUnits() {
		if strings.HasSuffix(str, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(str, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("invalid size %q: write bytes like 512, 32KiB, 10MiB or 64KB", str)
	}
	if n > math.MaxInt64/mult {
		return fmt.Errorf("invalid size %q: too large", str)
	}
	*s = Size(n * mult)
	return nil
}

// ParsePrefix reads a CIDR network ("10.0.0.0/8", "2001:db8::/32") or a bare
// address, which means that address alone. A network with host bits set
// ("10.0.0.1/8") is refused: it is unclear whether one host or the whole
// network was meant.
func ParsePrefix(s string) (Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return Prefix{}, fmt.Errorf("invalid address %q: want an IP address or a CIDR network", s)
		}
		return Prefix{netip.PrefixFrom(a, a.BitLen())}, nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return Prefix{}, fmt.Errorf("invalid network %q: want CIDR notation like 10.0.0.0/8", s)
	}
	if m := p.Masked(); m != p {
		return Prefix{}, fmt.Errorf("invalid network %q: host bits are set; did you mean %s?", s, m)
	}
	return Prefix{p}, nil
}

// String formats p in CIDR notation.
func (p Prefix) String() string { return p.Prefix.String() }

// MarshalText writes p in CIDR notation.
func (p Prefix) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads p as ParsePrefix does.
func (p *Prefix) UnmarshalText(b []byte) error {
	v, err := ParsePrefix(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
