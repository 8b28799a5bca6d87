package config

import (
	"reflect"
	"slices"
	"strings"
)

// Diff is what a reload from one configuration to another changes, down to
// the field. It is printed by "portier diff", logged at each reload and
// returned by POST /api/v1/reload.
type Diff struct {
	// Changes are in the order in which Config and the types under it
	// declare their keys (admin, state, log and the other top-level
	// settings, then listeners, routes, backends), with the objects of a
	// list sorted by name, each followed by its changed fields. Compare
	// never leaves it nil, so that JSON shows an empty diff as [].
	Changes []Change `json:"changes"`
}

// Op says what a Change does.
type Op string

// Kinds of change.
const (
	// OpAdd is a listener, route, backend or server only the new
	// configuration has. Its fields are not listed.
	OpAdd Op = "add"
	// OpRemove is one only the old configuration has.
	OpRemove Op = "remove"
	// OpChange is a setting whose value differs, with Old and New.
	OpChange Op = "change"
	// OpReorder is a list of named objects whose common members are
	// listed in another order; Old and New hold their names. Order is part
	// of the configuration: equal routes are tried in it.
	OpReorder Op = "reorder"
)

// Change is one difference between two configurations.
type Change struct {
	Op Op `json:"op"`
	// Path is the key path in the configuration's own terms, with objects
	// of a list named rather than numbered: "admin.address",
	// "routes.api.hosts", "backends.pages.servers.web-01.address". A name
	// that holds a '.' or a character YAML treats specially is quoted:
	// `backends."a.b"`.
	Path string `json:"path"`
	// Old and New render the values as a file would write them: "2s",
	// "32KiB", "[a, b]", "true", an empty string as `""`, a section as
	// "{path: /status, rise: 2}" (keys at their zero value left out) and an
	// absent one as "none". Empty for OpAdd and OpRemove.
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
}

// Empty reports whether the two configurations are the same.
func (d Diff) Empty() bool { return len(d.Changes) == 0 }

// String lists the changes one per line, for "portier diff" and logs:
//
//	~ routes (order): [api, all] -> [all, api]
//	+ routes.shop-api
//	- backends.old
//	~ backends.pages.servers.web-01.address: web-01:1443 -> web-01:2443
//
// and "no changes" when there are none.
func (d Diff) String() string {
	if d.Empty() {
		return "no changes\n"
	}
	var b strings.Builder
	for _, c := range d.Changes {
		b.WriteString(c.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// String formats c as one line of Diff.String, without the newline.
func (c Change) String() string {
	switch c.Op {
	case OpAdd:
		return "+ " + c.Path
	case OpRemove:
		return "- " + c.Path
	case OpReorder:
		return "~ " + c.Path + " (order): " + c.Old + " -> " + c.New
	}
	return "~ " + c.Path + ": " + c.Old + " -> " + c.New
}

// Compare returns what changes from old to new. Either may be nil, which
// means an empty configuration.
//
// It walks the model by reflection over the yaml keys, so a field added to
// the model is compared without a change here. Structs are compared key by
// key; a list of structs with a "name" key (listeners, routes, backends,
// servers) is matched by name, so that a rename is a removal and an
// addition; other lists and maps are compared as a whole; an optional
// section present on one side only is one change, "none -> {...}".
func Compare(old, new *Config) Diff {
	if old == nil {
		old = &Config{}
	}
	if new == nil {
		new = &Config{}
	}
	d := differ{out: []Change{}}
	d.value("", reflect.ValueOf(old).Elem(), reflect.ValueOf(new).Elem())
	return Diff{Changes: d.out}
}

// differ collects the changes of one Compare.
type differ struct{ out []Change }

func (d *differ) add(op Op, path, old, new string) {
	d.out = append(d.out, Change{Op: op, Path: path, Old: old, New: new})
}

// value compares a and b, two values of one type found at path.
func (d *differ) value(path string, a, b reflect.Value) {
	switch {
	case isLeaf(a.Type()):
	case a.Kind() == reflect.Pointer:
		if !a.IsNil() && !b.IsNil() {
			d.value(path, a.Elem(), b.Elem())
			return
		}
	case a.Kind() == reflect.Struct:
		t := a.Type()
		for i := range t.NumField() {
			if key := yamlKey(t.Field(i)); key != "" {
				d.value(joinPath(path, key), a.Field(i), b.Field(i))
			}
		}
		return
	case a.Kind() == reflect.Slice && nameField(a.Type().Elem()) >= 0:
		d.named(path, a, b)
		return
	}
	if !same(a, b) {
		d.add(OpChange, path, format(a), format(b))
	}
}

// named compares two lists of named objects: by name, in name order, after
// a change of their order if there is one.
func (d *differ) named(path string, a, b reflect.Value) {
	field := nameField(a.Type().Elem())
	index := func(list reflect.Value) (map[string]int, []string) {
		m := make(map[string]int, list.Len())
		order := make([]string, 0, list.Len())
		for i := range list.Len() {
			name := list.Index(i).Field(field).String()
			if _, dup := m[name]; !dup {
				m[name] = i
				order = append(order, name)
			}
		}
		return m, order
	}
	before, oldOrder := index(a)
	after, newOrder := index(b)
	oldCommon := slices.DeleteFunc(slices.Clone(oldOrder), func(n string) bool { _, ok := after[n]; return !ok })
	newCommon := slices.DeleteFunc(slices.Clone(newOrder), func(n string) bool { _, ok := before[n]; return !ok })
	if !slices.Equal(oldCommon, newCommon) {
		d.add(OpReorder, path, renderNames(oldCommon), renderNames(newCommon))
	}
	names := slices.Concat(oldOrder, newOrder)
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		p := path + "." + pathKey(name)
		i, inOld := before[name]
		j, inNew := after[name]
		switch {
		case !inNew:
			d.add(OpRemove, p, "", "")
		case !inOld:
			d.add(OpAdd, p, "", "")
		default:
			d.value(p, a.Index(i), b.Index(j))
		}
	}
}

// nameField is the index of the string field with yaml key "name" when t
// is a struct that has one, else -1.
func nameField(t reflect.Type) int {
	if t.Kind() != reflect.Struct {
		return -1
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if yamlKey(f) == "name" && f.Type.Kind() == reflect.String {
			return i
		}
	}
	return -1
}

// yamlKey is the key of f in a file, or "" when f is not in one.
func yamlKey(f reflect.StructField) string {
	key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if key == "-" || !f.IsExported() {
		return ""
	}
	return key
}

// same reports whether a and b, of one type, configure the same thing. It
// is reflect.DeepEqual except that a nil and an empty list or map are the
// same: both mean "none".
func same(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !same(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for it := a.MapRange(); it.Next(); {
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() || !same(it.Value(), bv) {
				return false
			}
		}
		return true
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return same(a.Elem(), b.Elem())
	case reflect.Struct:
		if a.Type().Comparable() {
			return a.Equal(b)
		}
		for i := range a.NumField() {
			if !same(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	}
	return a.Equal(b)
}
