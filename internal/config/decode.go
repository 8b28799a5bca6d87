package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds how many YAML nodes one load may visit, so that a small
// file of nested aliases ("billion laughs") cannot make Load run for ever.
const maxNodes = 1 << 20

// position is where a key or value starts in the file.
type position struct{ line, col int }

// decoder turns a YAML node tree into the model, strictly: every unknown key,
// duplicate key and wrongly typed value is collected as an Error with its
// path and position, and decoding goes on so that one run reports them all.
//
// It walks the tree itself instead of using yaml.Unmarshal because
// yaml.v3 stops at the first type error of a value and reports neither the
// column nor the key path.
type decoder struct {
	file   string
	lookup LookupEnv
	errs   Errors
	// pos maps key paths to the position of their key (or, for list items,
	// of the item) so that validation can point into the file.
	pos map[string]position
	// bad holds the paths that failed to decode; validation stays quiet
	// about them, since their value is only a default now.
	bad    map[string]bool
	budget int
}

// defaulter is a model type that knows its own defaults. Decoding calls
// setDefaults on each new list item or optional section before it fills in
// what the file says, so an unset key keeps its default.
type defaulter interface{ setDefaults() }

func newDecoder(file string, lookup LookupEnv) *decoder {
	return &decoder{
		file:   file,
		lookup: lookup,
		pos:    map[string]position{},
		bad:    map[string]bool{},
		budget: maxNodes,
	}
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{
		File: d.file, Line: n.Line, Column: n.Column,
		Path: path, Msg: fmt.Sprintf(format, args...),
	})
	d.bad[path] = true
}

// decode fills v, which must be addressable, from n.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.budget--; d.budget < 0 {
		if d.budget == -1 {
			d.fail(n, path, "document too large: more than %d values (nested aliases?)", maxNodes)
		}
		return
	}
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value keeps the default; optional sections stay off
	}
	if tu, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		s, _, ok := d.scalar(n, v.Type(), path)
		if !ok {
			return
		}
		if err := tu.UnmarshalText([]byte(s)); err != nil {
			d.fail(n, path, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		e := reflect.New(v.Type().Elem())
		if df, ok := e.Interface().(defaulter); ok {
			df.setDefaults()
		}
		d.decode(n, e.Elem(), path)
		v.Set(e)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		d.list(n, v, path)
	case reflect.Map:
		d.dict(n, v, path)
	case reflect.String:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
			d.fail(n, path, "must be a string, not %s; quote it if %q is meant", n.Value, n.Value)
			return
		}
		if s, _, ok := d.scalar(n, v.Type(), path); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		d.boolean(n, v, path)
	case reflect.Int:
		d.integer(n, v, path)
	default:
		panic("config: no decoder for " + v.Type().String())
	}
}

// scalar returns n's text with environment variables expanded, and whether
// there were any.
func (d *decoder) scalar(n *yaml.Node, t reflect.Type, path string) (string, bool, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "must be %s, not %s", describeType(t), describeNode(n))
		return "", false, false
	}
	s, expanded, err := expandEnv(n.Value, d.lookup)
	if err != nil {
		d.fail(n, path, "%v", err)
		return "", false, false
	}
	return s, expanded, true
}

func (d *decoder) boolean(n *yaml.Node, v reflect.Value, path string) {
	s, expanded, ok := d.scalar(n, v.Type(), path)
	if !ok {
		return
	}
	switch {
	case n.Tag == "!!bool" || expanded && (s == "true" || s == "false"):
		v.SetBool(strings.EqualFold(s, "true"))
	default:
		d.fail(n, path, "must be true or false, not %q", s)
	}
}

func (d *decoder) integer(n *yaml.Node, v reflect.Value, path string) {
	s, expanded, ok := d.scalar(n, v.Type(), path)
	if !ok {
		return
	}
	if n.Tag != "!!int" && !expanded {
		d.fail(n, path, "must be an integer, not %q", s)
		return
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
	if err != nil || v.OverflowInt(i) {
		d.fail(n, path, "must be an integer, not %q", s)
		return
	}
	v.SetInt(i)
}

// entry is one key and value of a mapping.
type entry struct{ key, val *yaml.Node }

// entries lists a mapping's keys, with YAML merge keys ("<<: *base")
// resolved: the mapping's own keys win over merged ones, and among merged
// mappings the first one listed wins. Duplicate own keys are errors.
func (d *decoder) entries(n *yaml.Node, path string) []entry {
	var own, merged []entry
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		// Merges of merges can multiply like nested aliases; they count
		// against the same budget.
		if d.budget--; d.budget < 0 {
			if d.budget == -1 {
				d.fail(k, path, "document too large: more than %d values (nested aliases?)", maxNodes)
			}
			return nil
		}
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merged = append(merged, d.mergeSources(val, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "keys must be plain strings, not %s", describeNode(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(k, joinPath(path, k.Value), "duplicate key (first set at line %d)", first.Line)
			continue
		}
		seen[k.Value] = k
		own = append(own, entry{k, val})
	}
	for _, e := range merged {
		if _, set := seen[e.key.Value]; !set && e.key.Kind == yaml.ScalarNode {
			seen[e.key.Value] = e.key
			own = append(own, e)
		}
	}
	return own
}

func (d *decoder) mergeSources(n *yaml.Node, path string) []entry {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return d.entries(n, path)
	case yaml.SequenceNode:
		var out []entry
		for _, s := range n.Content {
			out = append(out, d.mergeSources(s, path)...)
		}
		return out
	}
	d.fail(n, path, "a merge key (<<) takes a mapping or a list of mappings, not %s", describeNode(n))
	return nil
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be %s, not %s", describeType(v.Type()), describeNode(n))
		return
	}
	fields := fieldsOf(v.Type())
	for _, e := range d.entries(n, path) {
		if d.budget < 0 {
			return
		}
		idx, ok := fields[e.key.Value]
		if !ok {
			d.fail(e.key, path, "unknown key %q%s", e.key.Value, suggest(e.key.Value, fields))
			continue
		}
		p := joinPath(path, e.key.Value)
		d.pos[p] = position{e.key.Line, e.key.Column}
		d.decode(e.val, v.Field(idx), p)
	}
}

func (d *decoder) list(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "must be a list, not %s", describeNode(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		if d.budget < 0 {
			break
		}
		e := reflect.New(v.Type().Elem())
		if df, ok := e.Interface().(defaulter); ok {
			df.setDefaults()
		}
		p := path + "[" + strconv.Itoa(i) + "]"
		d.pos[p] = position{item.Line, item.Column}
		d.decode(item, e.Elem(), p)
		out = reflect.Append(out, e.Elem())
	}
	v.Set(out)
}

func (d *decoder) dict(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping, not %s", describeNode(n))
		return
	}
	out := reflect.MakeMap(v.Type())
	for _, e := range d.entries(n, path) {
		if d.budget < 0 {
			break
		}
		p := joinPath(path, e.key.Value)
		d.pos[p] = position{e.key.Line, e.key.Column}
		val := reflect.New(v.Type().Elem()).Elem()
		d.decode(e.val, val, p)
		out.SetMapIndex(reflect.ValueOf(e.key.Value), val)
	}
	v.Set(out)
}

// fieldsOf maps the yaml keys of a struct type to field indexes.
func fieldsOf(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describeType says in words what a value of type t is written as.
func describeType(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration]():
		return "a duration like 2s or 500ms"
	case reflect.TypeFor[Size]():
		return "a size like 512, 32KiB or 10MB"
	case reflect.TypeFor[Prefix]():
		return "an IP address or CIDR network like 10.0.0.0/8"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list"
	}
	return "a mapping of keys"
}

// describeNode says in words what the file has instead.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "an alias"
}

// suggest proposes the known key closest to an unknown one, for typos.
func suggest(key string, fields map[string]int) string {
	best, bestDist := "", 3
	for name := range fields {
		if dist := editDistance(key, name); dist < bestDist || dist == bestDist && name < best {
			best, bestDist = name, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
