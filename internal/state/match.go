package state

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/portier/portier/internal/config"
)

// Dropped is a saved entry whose server is still configured, under a
// different identity. Its state does not apply: configuration wins.
type Dropped struct {
	// Backend and Server name the server.
	Backend, Server string
	// Changes are the identity fields that differ, in the order
	// config.ServerIdentity declares them.
	Changes []FieldChange
	// Saved is the entry that was dropped, for the log line that says
	// what was lost (a drain, a weight).
	Saved Entry
}

// FieldChange is one identity field that differs between the saved entry
// and the configuration.
type FieldChange struct {
	// Field is the field's JSON name: "address", "send_proxy_protocol".
	Field string
	// From is the saved value and To the configured one, as plain text:
	// strings unquoted, booleans true or false; empty when empty.
	From, To string
}

// String renders the change as "address: web-01:1443 -> web-01:2443", with
// "-" for an empty value.
func (c FieldChange) String() string {
	return c.Field + ": " + orDash(c.From) + " -> " + orDash(c.To)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Match sorts saved entries by what the configuration says of their
// servers now; current returns a server's configured identity, or false
// when the backend or server is no longer configured. Kept entries have an
// identical identity and may be applied; dropped ones differ in the
// fields listed and must not be; gone ones name a server that no longer
// exists. Each list keeps the order of saved.
//
// Every field of config.ServerIdentity counts, including fields added to
// it later: an old drain must not stick to a new port (seeds/001).
func Match(saved []Entry, current func(backend, server string) (config.ServerIdentity, bool)) (kept []Entry, dropped []Dropped, gone []Entry) {
	for _, e := range saved {
		id, ok := current(e.Backend, e.Server)
		if !ok {
			gone = append(gone, e)
			continue
		}
		if e.Identity == id { // the common case, without reflection
			kept = append(kept, e)
			continue
		}
		if changes := identityChanges(e.Identity, id); len(changes) > 0 {
			dropped = append(dropped, Dropped{Backend: e.Backend, Server: e.Server, Changes: changes, Saved: e})
			continue
		}
		kept = append(kept, e)
	}
	return kept, dropped, gone
}

// identityChanges lists the fields in which from and to differ, found by
// reflection over the struct so that a field added to ServerIdentity is
// compared without a change here. Match runs at start and reload, never per
// request.
func identityChanges(from, to config.ServerIdentity) []FieldChange {
	var out []FieldChange
	a, b := reflect.ValueOf(from), reflect.ValueOf(to)
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, skip := jsonName(f)
		if skip {
			continue
		}
		va, vb := a.Field(i).Interface(), b.Field(i).Interface()
		if reflect.DeepEqual(va, vb) {
			continue
		}
		out = append(out, FieldChange{Field: name, From: render(a.Field(i)), To: render(b.Field(i))})
	}
	return out
}

// jsonName returns the name encoding/json gives field f, and whether
// encoding/json leaves it out (unexported, or tagged "-"); a field left out
// is not saved, so it cannot be compared.
func jsonName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", true
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", true
	}
	if name, _, _ := strings.Cut(tag, ","); name != "" {
		return name, false
	}
	return f.Name, false
}

// render writes v as plain text: strings as they are, anything else as its
// JSON form, the zero value of any kind but bool as "".
func render(v reflect.Value) string {
	if v.Kind() == reflect.String {
		return v.String()
	}
	if v.Kind() != reflect.Bool && v.IsZero() {
		return ""
	}
	data, err := json.Marshal(v.Interface())
	if err != nil {
		return err.Error()
	}
	return string(data)
}
