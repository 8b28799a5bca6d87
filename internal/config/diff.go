package config

import (
	"reflect"
	"slices"
	"strings"
)

// Diff is what a reload from one configuration to another changes, by name.
// Servers are named "backend/server"; a backend's servers are reported
// under Servers, not as a change of the backend.
type Diff struct {
	Listeners Changes `json:"listeners"`
	Routes    Changes `json:"routes"`
	Backends  Changes `json:"backends"`
	Servers   Changes `json:"servers"`
	// Settings lists the top-level keys that changed: "admin.address",
	// "log.level", "shutdown_timeout" and so on.
	Settings []string `json:"settings,omitempty"`
}

// Changes are the objects of one kind added, removed and changed, each list
// sorted by name.
type Changes struct {
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	Changed []Change `json:"changed,omitempty"`
}

// Change is one object present in both configurations whose settings differ.
type Change struct {
	Name string `json:"name"`
	// Fields are the key paths that differ, like "health.interval" or
	// "hosts"; a list is reported as a whole.
	Fields []string `json:"fields"`
}

// Empty reports whether c holds no change.
func (c Changes) Empty() bool {
	return len(c.Added) == 0 && len(c.Removed) == 0 && len(c.Changed) == 0
}

// Empty reports whether the two configurations behave the same.
func (d Diff) Empty() bool {
	return d.Listeners.Empty() && d.Routes.Empty() && d.Backends.Empty() &&
		d.Servers.Empty() && len(d.Settings) == 0
}

// String lists the changes one per line, "+ route shop-api",
// "- server shop/web-2", "~ backend shop: balance, health.interval", for the
// diff command and logs; "no changes" when there are none.
func (d Diff) String() string {
	var b strings.Builder
	for _, kind := range []struct {
		name string
		c    Changes
	}{{"listener", d.Listeners}, {"route", d.Routes}, {"backend", d.Backends}, {"server", d.Servers}} {
		for _, n := range kind.c.Added {
			b.WriteString("+ " + kind.name + " " + n + "\n")
		}
		for _, n := range kind.c.Removed {
			b.WriteString("- " + kind.name + " " + n + "\n")
		}
		for _, ch := range kind.c.Changed {
			b.WriteString("~ " + kind.name + " " + ch.Name + ": " + strings.Join(ch.Fields, ", ") + "\n")
		}
	}
	for _, s := range d.Settings {
		b.WriteString("~ " + s + "\n")
	}
	if b.Len() == 0 {
		return "no changes\n"
	}
	return b.String()
}

// Compare returns what changes from old to new. Objects are matched by
// name, so a rename is a removal and an addition. Either may be nil, which
// means an empty configuration.
func Compare(old, new *Config) Diff {
	if old == nil {
		old = &Config{}
	}
	if new == nil {
		new = &Config{}
	}
	var d Diff
	d.Listeners = compareNamed(old.Listeners, new.Listeners, func(l Listener) (string, any) { return l.Name, l }, nil)
	d.Routes = compareNamed(old.Routes, new.Routes, func(r Route) (string, any) { return r.Name, r }, nil)
	d.Backends = compareNamed(old.Backends, new.Backends, func(b Backend) (string, any) { return b.Name, b },
		map[string]bool{"servers": true})
	d.Servers = compareNamed(allServers(old), allServers(new), func(s namedServer) (string, any) { return s.key, s.server }, nil)
	for _, key := range []string{"admin", "state", "log", "shutdown_timeout"} {
		d.Settings = append(d.Settings, fieldDiff(fieldByKey(old, key), fieldByKey(new, key), key, nil)...)
	}
	return d
}

// namedServer is a server with its backend, keyed "backend/server".
type namedServer struct {
	key    string
	server Server
}

func allServers(c *Config) []namedServer {
	var out []namedServer
	for _, b := range c.Backends {
		for _, s := range b.Servers {
			out = append(out, namedServer{b.Name + "/" + s.Name, s})
		}
	}
	return out
}

// compareNamed matches two lists by the name ident gives and lists the
// differences of the settings it gives; skip names keys to leave out.
func compareNamed[T any](old, new []T, ident func(T) (string, any), skip map[string]bool) Changes {
	var c Changes
	before := map[string]any{}
	for _, o := range old {
		k, body := ident(o)
		before[k] = body
	}
	after := map[string]bool{}
	for _, n := range new {
		k, body := ident(n)
		after[k] = true
		o, ok := before[k]
		if !ok {
			c.Added = append(c.Added, k)
			continue
		}
		if fields := fieldDiff(reflect.ValueOf(o), reflect.ValueOf(body), "", skip); len(fields) > 0 {
			c.Changed = append(c.Changed, Change{Name: k, Fields: fields})
		}
	}
	for _, o := range old {
		if k, _ := ident(o); !after[k] {
			c.Removed = append(c.Removed, k)
		}
	}
	slices.Sort(c.Added)
	slices.Sort(c.Removed)
	slices.SortFunc(c.Changed, func(a, b Change) int { return strings.Compare(a.Name, b.Name) })
	return c
}

// fieldByKey returns the field of c whose yaml key is key.
func fieldByKey(c *Config, key string) reflect.Value {
	v := reflect.ValueOf(c).Elem()
	return v.Field(fieldsOf(v.Type())[key])
}

// fieldDiff lists the yaml key paths under path where a and b differ.
// Structs are compared key by key, optional sections present on one side
// only are reported whole, and lists and maps are compared as a whole.
func fieldDiff(a, b reflect.Value, path string, skip map[string]bool) []string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return []string{path}
			}
			return nil
		}
		return fieldDiff(a.Elem(), b.Elem(), path, nil)
	case reflect.Struct:
		if a.Type() == reflect.TypeFor[Prefix]() {
			break
		}
		var out []string
		t := a.Type()
		for i := range t.NumField() {
			key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if key == "" || key == "-" || skip[key] {
				continue
			}
			out = append(out, fieldDiff(a.Field(i), b.Field(i), joinPath(path, key), nil)...)
		}
		return out
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		return []string{path}
	}
	return nil
}
