package config

import (
	"net/netip"
	"testing"
	"time"
)

func TestDurationText(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{name: "millis", in: "500ms", want: 500 * time.Millisecond},
		{name: "compound", in: "1m30s", want: 90 * time.Second},
		{name: "zero", in: "0", want: 0},
		{name: "negative", in: "-1s", wantErr: true},
		{name: "no unit", in: "10", wantErr: true},
		{name: "word", in: "soon", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Duration
			err := d.UnmarshalText([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("UnmarshalText(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && d.D() != tt.want {
				t.Errorf("UnmarshalText(%q) = %v, want %v", tt.in, d.D(), tt.want)
			}
			if err == nil {
				var back Duration
				if err := back.UnmarshalText([]byte(d.String())); err != nil || back != d {
					t.Errorf("round trip of %v gave %v, %v", d, back, err)
				}
			}
		})
	}
}

func TestSizeText(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantStr string
		wantErr bool
	}{
		{name: "bytes", in: "512", want: 512, wantStr: "512"},
		{name: "bytes with unit", in: "512B", want: 512, wantStr: "512"},
		{name: "kibibytes", in: "32KiB", want: 32 << 10, wantStr: "32KiB"},
		{name: "mebibytes", in: "10MiB", want: 10 << 20, wantStr: "10MiB"},
		{name: "gibibytes", in: "1GiB", want: 1 << 30, wantStr: "1GiB"},
		{name: "kilobytes", in: "64KB", want: 64000, wantStr: "64000"},
		{name: "megabytes", in: "10MB", want: 10e6, wantStr: "10000000"},
		{name: "space before unit", in: "4 KiB", want: 4 << 10, wantStr: "4KiB"},
		{name: "zero", in: "0", want: 0, wantStr: "0"},
		{name: "lower case unit", in: "32kib", wantErr: true},
		{name: "bits", in: "10Mb", wantErr: true},
		{name: "negative", in: "-1", wantErr: true},
		{name: "fraction", in: "1.5MiB", wantErr: true},
		{name: "overflow", in: "9999999999TiB", wantErr: true},
		{name: "unit only", in: "KiB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Size
			err := s.UnmarshalText([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("UnmarshalText(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if int64(s) != tt.want {
				t.Errorf("UnmarshalText(%q) = %d, want %d", tt.in, s, tt.want)
			}
			if s.String() != tt.wantStr {
				t.Errorf("String() = %q, want %q", s.String(), tt.wantStr)
			}
		})
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{name: "ipv4 network", in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{name: "ipv6 network", in: "2001:db8::/32", want: "2001:db8::/32"},
		{name: "bare ipv4 is one host", in: "192.0.2.7", want: "192.0.2.7/32"},
		{name: "bare ipv6 is one host", in: "::1", want: "::1/128"},
		{name: "host bits set", in: "10.0.0.1/8", wantErr: true},
		{name: "bad mask", in: "10.0.0.0/33", wantErr: true},
		{name: "name", in: "localhost", wantErr: true},
		{name: "zone", in: "fe80::1%eth0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePrefix(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParsePrefix(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && p.String() != tt.want {
				t.Errorf("ParsePrefix(%q) = %s, want %s", tt.in, p, tt.want)
			}
			if err == nil && p.Prefix != netip.MustParsePrefix(tt.want) {
				t.Errorf("ParsePrefix(%q).Prefix = %v", tt.in, p.Prefix)
			}
		})
	}
}

func TestParseStatusRange(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		lo, hi  int
		wantErr bool
	}{
		{name: "code", in: "200", lo: 200, hi: 200},
		{name: "range", in: "200-399", lo: 200, hi: 399},
		{name: "reversed", in: "399-200", wantErr: true},
		{name: "too low", in: "99", wantErr: true},
		{name: "too high", in: "200-600", wantErr: true},
		{name: "word", in: "ok", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi, err := ParseStatusRange(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseStatusRange(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && (lo != tt.lo || hi != tt.hi) {
				t.Errorf("ParseStatusRange(%q) = %d, %d, want %d, %d", tt.in, lo, hi, tt.lo, tt.hi)
			}
		})
	}
}

func TestParseHashKey(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		kind, nm string
		wantErr  bool
	}{
		{name: "empty is client ip", in: "", kind: HashClientIP},
		{name: "client ip", in: "client_ip", kind: HashClientIP},
		{name: "path", in: "path", kind: HashPath},
		{name: "header", in: "header:X-User", kind: HashHeader, nm: "X-User"},
		{name: "cookie", in: "cookie:session", kind: HashCookie, nm: "session"},
		{name: "header without name", in: "header:", wantErr: true},
		{name: "unknown kind", in: "query:id", wantErr: true},
		{name: "bad header name", in: "header:X User", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, nm, err := ParseHashKey(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseHashKey(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && (kind != tt.kind || nm != tt.nm) {
				t.Errorf("ParseHashKey(%q) = %q, %q, want %q, %q", tt.in, kind, nm, tt.kind, tt.nm)
			}
		})
	}
}
