package config

import (
	"cmp"
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

var textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()

// isLeaf reports whether a value of type t is one setting rather than a
// section or list of them: a scalar, or a type that writes itself as text
// (Duration, Size, Prefix).
func isLeaf(t reflect.Type) bool {
	if t.Implements(textMarshaler) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// format writes the old or new value of a Change on one line, the way
// YAML's flow style would, but short: an absent section as "none", an
// empty string as "", durations as "2s" or "1m", sizes as "32KiB" or "10MB", lists as "[a, b]",
// maps and sections as "{key: value}" in key order with the keys at their
// zero value left out, and strings bare unless they need quotes to be read
// back in one piece.
func format(v reflect.Value) string {
	t := v.Type()
	switch t {
	case reflect.TypeFor[Duration]():
		return formatDuration(time.Duration(v.Int()))
	case reflect.TypeFor[Size]():
		return formatSize(v.Int())
	}
	if t.Implements(textMarshaler) {
		if b, err := v.Interface().(encoding.TextMarshaler).MarshalText(); err == nil {
			return quote(string(b))
		}
		return fmt.Sprint(v.Interface())
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return "none"
		}
		return format(v.Elem())
	case reflect.String:
		return quote(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice, reflect.Array:
		items := make([]string, v.Len())
		for i := range v.Len() {
			items[i] = format(v.Index(i))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case reflect.Map:
		return formatMap(v)
	case reflect.Struct:
		return formatStruct(v)
	}
	return fmt.Sprint(v.Interface())
}

func formatMap(v reflect.Value) string {
	type entry struct{ k, v string }
	entries := make([]entry, 0, v.Len())
	for it := v.MapRange(); it.Next(); {
		entries = append(entries, entry{format(it.Key()), format(it.Value())})
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.k, b.k) })
	parts := make([]string, len(entries))
	for i, e := range entries {
		parts[i] = e.k + ": " + e.v
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func formatStruct(v reflect.Value) string {
	var parts []string
	t := v.Type()
	for i := range t.NumField() {
		key, f := yamlKey(t.Field(i)), v.Field(i)
		if key == "" || f.IsZero() || (f.Kind() == reflect.Slice || f.Kind() == reflect.Map) && f.Len() == 0 {
			continue
		}
		parts = append(parts, key+": "+format(f))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// formatDuration writes d as time.Duration does, without the zero units
// it puts at the end: "1m" rather than "1m0s", "1h" rather than "1h0m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// formatSize writes n bytes the shortest way a file could, a binary unit
// before a decimal one before none on a tie: "32KiB", "10MB", "1500".
// Size.String knows only the binary units, so "10MB" would be "10000000".
func formatSize(n int64) string {
	best := ""
	// sizeUnits lists the binary units before the decimal ones, so the
	// first of equal length stays.
	for _, u := range sizeUnits() {
		if s := strconv.FormatInt(n/u.mult, 10) + u.suffix; n%u.mult == 0 && (best == "" || len(s) < len(best)) {
			best = s
		}
	}
	if bytes := strconv.FormatInt(n, 10); best == "" || len(bytes) < len(best) {
		best = bytes
	}
	return best
}

// quote returns s bare when it reads back as one item of a list or map,
// else in Go quotes: empty, with spaces or control characters, or with
// ',', brackets, braces, quotes or '#'.
func quote(s string) string {
	if needsQuotes(s) {
		return strconv.Quote(s)
	}
	return s
}

func needsQuotes(s string) bool {
	if s == "" {
		return true
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) || strings.ContainsRune(`,[]{}"'#`, r) {
			return true
		}
	}
	return false
}

// pathKey is name as one element of a Change's path: bare, or quoted when
// it holds a '.' or would need quotes in a list.
func pathKey(name string) string {
	if needsQuotes(name) || strings.Contains(name, ".") {
		return strconv.Quote(name)
	}
	return name
}

// renderNames writes names as a list.
func renderNames(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = quote(n)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
