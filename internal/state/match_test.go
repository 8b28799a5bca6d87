package state

import (
	"reflect"
	"strings"
	"testing"

	"github.com/portier/portier/internal/config"
)

func TestMatch(t *testing.T) {
	// The servers of seeds/001 before the change: TLS on 1443, no PROXY protocol.
	before := config.ServerIdentity{Address: "web-01:1443", SendProxyProtocol: "none"}
	tests := []struct {
		name    string
		now     *config.ServerIdentity // nil: the server is no longer configured
		want    string                 // "kept", "gone" or the changes joined by "; "
		changes []FieldChange
	}{
		{name: "unchanged", now: &before, want: "kept"},
		{
			name:    "changed address",
			now:     &config.ServerIdentity{Address: "web-01:2443", SendProxyProtocol: "none"},
			want:    "address: web-01:1443 -> web-01:2443",
			changes: []FieldChange{{Field: "address", From: "web-01:1443", To: "web-01:2443"}},
		},
		{
			name: "changed send_proxy_protocol",
			now:  &config.ServerIdentity{Address: "web-01:1443", SendProxyProtocol: "v2"},
			want: "send_proxy_protocol: none -> v2",
		},
		{
			name: "the incident: new port and PROXY v2",
			now:  &config.ServerIdentity{Address: "web-01:2443", SendProxyProtocol: "v2"},
			want: "address: web-01:1443 -> web-01:2443; send_proxy_protocol: none -> v2",
		},
		{
			name: "TLS turned on with a server name",
			now:  &config.ServerIdentity{Address: "web-01:1443", TLS: true, ServerName: "pages.internal", SendProxyProtocol: "none"},
			want: "tls: false -> true; server_name: - -> pages.internal",
		},
		{
			name: "HTTP/2 turned on",
			now:  &config.ServerIdentity{Address: "web-01:1443", HTTP2: true, SendProxyProtocol: "none"},
			want: "http2: false -> true",
		},
		{
			name:    "field empty in an old file",
			now:     &config.ServerIdentity{Address: "web-01:1443"},
			want:    "send_proxy_protocol: none -> -",
			changes: []FieldChange{{Field: "send_proxy_protocol", From: "none", To: ""}},
		},
		{name: "removed server", want: "gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := []Entry{{Backend: "pages", Server: "web-01", Identity: before, Admin: AdminDraining, Health: HealthUp}}
			calls := 0
			kept, dropped, gone := Match(saved, func(backend, server string) (config.ServerIdentity, bool) {
				calls++
				if backend != "pages" || server != "web-01" {
					t.Errorf("asked for %s/%s", backend, server)
				}
				if tt.now == nil {
					return config.ServerIdentity{}, false
				}
				return *tt.now, true
			})
			if calls != 1 {
				t.Errorf("current called %d times, want 1", calls)
			}
			var got string
			switch {
			case len(kept)+len(dropped)+len(gone) != 1:
				t.Fatalf("kept %v, dropped %v, gone %v: want the entry in exactly one", kept, dropped, gone)
			case len(kept) == 1:
				got = "kept"
				sameEntries(t, kept, saved)
			case len(gone) == 1:
				got = "gone"
				sameEntries(t, gone, saved)
			default:
				d := dropped[0]
				if d.Backend != "pages" || d.Server != "web-01" {
					t.Errorf("dropped %s/%s", d.Backend, d.Server)
				}
				sameEntries(t, []Entry{d.Saved}, saved)
				var parts []string
				for _, c := range d.Changes {
					parts = append(parts, c.String())
				}
				got = strings.Join(parts, "; ")
				if tt.changes != nil && !reflect.DeepEqual(d.Changes, tt.changes) {
					t.Errorf("changes %#v, want %#v", d.Changes, tt.changes)
				}
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMatchKeepsOrder(t *testing.T) {
	id := func(addr string) config.ServerIdentity { return config.ServerIdentity{Address: addr} }
	saved := []Entry{
		{Backend: "b", Server: "1", Identity: id("a:1")},
		{Backend: "b", Server: "2", Identity: id("a:2")},
		{Backend: "b", Server: "3", Identity: id("a:3")},
		{Backend: "c", Server: "1", Identity: id("c:1")},
		{Backend: "b", Server: "4", Identity: id("a:4")},
		{Backend: "b", Server: "5", Identity: id("a:5")},
	}
	now := map[string]string{"b/1": "a:1", "b/2": "x:2", "b/4": "a:4", "b/5": "x:5"}
	kept, dropped, gone := Match(saved, func(backend, server string) (config.ServerIdentity, bool) {
		addr, ok := now[backend+"/"+server]
		return id(addr), ok
	})
	names := func(es []Entry) (s []string) {
		for _, e := range es {
			s = append(s, e.Backend+"/"+e.Server)
		}
		return s
	}
	var droppedNames []string
	for _, d := range dropped {
		droppedNames = append(droppedNames, d.Backend+"/"+d.Server)
	}
	if got := strings.Join(names(kept), ","); got != "b/1,b/4" {
		t.Errorf("kept %s", got)
	}
	if got := strings.Join(droppedNames, ","); got != "b/2,b/5" {
		t.Errorf("dropped %s", got)
	}
	if got := strings.Join(names(gone), ","); got != "b/3,c/1" {
		t.Errorf("gone %s", got)
	}
}

// TestMatchComparesEveryField sets each field of ServerIdentity in turn,
// including any added after this test was written, and checks that Match
// drops the entry and names that field.
func TestMatchComparesEveryField(t *testing.T) {
	typ := reflect.TypeFor[config.ServerIdentity]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, skip := jsonName(f)
		if skip {
			continue
		}
		t.Run(name, func(t *testing.T) {
			var changed config.ServerIdentity
			v := reflect.ValueOf(&changed).Elem().Field(i)
			if !setNonZero(v) {
				t.Skipf("no test value for a field of kind %s", v.Kind())
			}
			saved := []Entry{{Backend: "b", Server: "s"}}
			_, dropped, _ := Match(saved, func(string, string) (config.ServerIdentity, bool) { return changed, true })
			if len(dropped) != 1 || len(dropped[0].Changes) != 1 || dropped[0].Changes[0].Field != name {
				t.Fatalf("dropped %+v, want one change of %s", dropped, name)
			}
			c := dropped[0].Changes[0]
			if c.To == "" || c.From == c.To {
				t.Errorf("change %+v does not show the new value", c)
			}
		})
	}
}

// setNonZero gives v a value other than its zero value.
func setNonZero(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
	default:
		return false
	}
	return true
}

func TestFieldChangeString(t *testing.T) {
	tests := []struct {
		c    FieldChange
		want string
	}{
		{FieldChange{"address", "web-01:1443", "web-01:2443"}, "address: web-01:1443 -> web-01:2443"},
		{FieldChange{"send_proxy_protocol", "none", "v2"}, "send_proxy_protocol: none -> v2"},
		{FieldChange{"server_name", "", "a.internal"}, "server_name: - -> a.internal"},
		{FieldChange{"server_name", "a.internal", ""}, "server_name: a.internal -> -"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.c, got, tt.want)
		}
	}
}
