package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// TestCompareEveryField changes each setting of a configuration that has
// every optional section and one object in every list, one setting at a
// time, and checks that Compare reports exactly that setting by its path
// with two different printable values. It walks the model by reflection, so
// a field added to it is covered here without a change to this test; a
// field of a type this test cannot change fails it, and so does an
// optional section or list that fullConfig leaves empty.
func TestCompareEveryField(t *testing.T) {
	base := fullConfig()
	var all []setting
	collect(t, reflect.ValueOf(base).Elem(), "", func(c *Config) reflect.Value { return reflect.ValueOf(c).Elem() }, &all)
	covered := map[string]int{}
	for _, s := range all {
		t.Run(s.path, func(t *testing.T) {
			new := fullConfig()
			if !change(s.get(new)) {
				t.Fatalf("cannot change a %s: teach change and sample about it, and check that Compare renders it",
					s.get(new).Type())
			}
			d := Compare(base, new)
			if len(d.Changes) != 1 {
				t.Fatalf("%d changes, want 1:\n%s", len(d.Changes), d)
			}
			c := d.Changes[0]
			if c.Op != OpChange || c.Path != s.path {
				t.Fatalf("change is %s %q, want %s %q", c.Op, c.Path, OpChange, s.path)
			}
			if c.Old == c.New || c.Old == "" || c.New == "" || strings.Contains(c.Old+c.New, "%!") {
				t.Errorf("values %q -> %q do not show the change", c.Old, c.New)
			}
			if s.section && (c.New != "none" || !strings.HasPrefix(c.Old, "{")) {
				t.Errorf("section removed as %q -> %q, want {...} -> none", c.Old, c.New)
			}
			assertMirror(t, d, Compare(new, base))
		})
		for _, kind := range []string{"listeners.", "routes.", "backends.", "backends.b.servers."} {
			if strings.HasPrefix(s.path, kind) {
				covered[kind]++
			}
		}
	}
	// Guard the walk itself: it must reach into each kind of object.
	for _, kind := range []string{"listeners.", "routes.", "backends.", "backends.b.servers."} {
		if covered[kind] < 2 {
			t.Errorf("only %d settings under %s were tried", covered[kind], kind)
		}
	}
}

// setting is one value of fullConfig that TestCompareEveryField changes.
type setting struct {
	path    string
	get     func(*Config) reflect.Value
	section bool // an optional section, changed by taking it away
}

// collect lists the settings of v, found at path and reached in another
// Config by get.
func collect(t *testing.T, v reflect.Value, path string, get func(*Config) reflect.Value, out *[]setting) {
	typ := v.Type()
	switch {
	case isLeaf(typ) || typ.Kind() == reflect.Map || typ.Kind() == reflect.Slice && nameField(typ.Elem()) < 0:
		*out = append(*out, setting{path: path, get: get})
	case typ.Kind() == reflect.Pointer:
		if v.IsNil() {
			t.Errorf("fullConfig leaves %s out: set it so that its fields are tested", path)
			return
		}
		*out = append(*out, setting{path: path, get: get, section: true})
		collect(t, v.Elem(), path, func(c *Config) reflect.Value { return get(c).Elem() }, out)
	case typ.Kind() == reflect.Struct:
		for i := range typ.NumField() {
			key := yamlKey(typ.Field(i))
			if key == "" || key == "name" && nameField(typ) == i {
				continue // a new name is a new object: TestCompare renames
			}
			collect(t, v.Field(i), joinPath(path, key),
				func(c *Config) reflect.Value { return get(c).Field(i) }, out)
		}
	case typ.Kind() == reflect.Slice:
		if v.Len() == 0 {
			t.Errorf("fullConfig has no %s: add one so that its fields are tested", path)
			return
		}
		name := v.Index(0).Field(nameField(typ.Elem())).String()
		collect(t, v.Index(0), path+"."+pathKey(name),
			func(c *Config) reflect.Value { return get(c).Index(0) }, out)
	default:
		t.Errorf("%s: Compare does not know a %s", path, typ)
	}
}

var samplePrefix = Prefix{netip.MustParsePrefix("192.0.2.0/24")}

// change sets v, which is addressable, to another value: an optional
// section to none, a list or map to one with another item.
func change(v reflect.Value) bool {
	if v.Type() == reflect.TypeFor[Prefix]() {
		p := samplePrefix
		if v.Interface() == p {
			p = Prefix{netip.MustParsePrefix("198.51.100.0/24")}
		}
		v.Set(reflect.ValueOf(p))
		return true
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "-x")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Float64:
		v.SetFloat(v.Float()/2 + 0.125)
	case reflect.Pointer:
		v.SetZero()
	case reflect.Slice:
		s, ok := sample(v.Type().Elem())
		if !ok {
			return false
		}
		v.Set(reflect.Append(v, s))
	case reflect.Map:
		k, okk := sample(v.Type().Key())
		e, oke := sample(v.Type().Elem())
		if !okk || !oke {
			return false
		}
		m := reflect.MakeMap(v.Type())
		for it := v.MapRange(); it.Next(); {
			m.SetMapIndex(it.Key(), it.Value())
		}
		m.SetMapIndex(k, e)
		v.Set(m)
	default:
		return false
	}
	return true
}

// sample returns a value of t that is not its zero value.
func sample(t reflect.Type) (reflect.Value, bool) {
	v := reflect.New(t).Elem()
	if t == reflect.TypeFor[Prefix]() {
		v.Set(reflect.ValueOf(samplePrefix))
		return v, true
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			f, ok := sample(t.Field(i).Type)
			if !ok {
				return v, false
			}
			v.Field(i).Set(f)
		}
		return v, true
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Slice, reflect.Map:
		return v, change(v)
	}
	return v, false
}

// fullConfig has every optional section set and one object in every list,
// so that TestCompareEveryField reaches every setting.
func fullConfig() *Config {
	c := New()
	c.Admin.TokenFile = "/etc/portier/admin.token"
	c.State.File = "/var/lib/portier/state.json"
	c.Resolvers = []string{"10.0.0.53:53"}
	c.Tracing.OTLPEndpoint = "http://127.0.0.1:4318"
	l := NewListener("l", ":8443")
	l.Protocol = ProtocolHTTPS
	l.TLS = &ListenerTLS{Certificates: []Certificate{{CertFile: "/c.pem", KeyFile: "/c.key"}}}
	l.ProxyProtocol = &ProxyProtocol{Accept: true, Trusted: []Prefix{{netip.MustParsePrefix("10.0.0.0/8")}}}
	l.TrustedProxies = []Prefix{{netip.MustParsePrefix("10.1.0.0/16")}}
	c.Listeners = []Listener{l}
	r := NewRoute("r", "b")
	r.Listeners = []string{"l"}
	r.Hosts = []string{"shop.example.com"}
	r.Methods = []string{"GET"}
	r.Headers = map[string]string{"X-Env": "prod"}
	r.Split = []SplitTarget{{Backend: "b", Weight: 80}, {Backend: "b2", Weight: 20}}
	r.Sticky = &Sticky{Cookie: "portier_variant"}
	c.Routes = []Route{r}
	b := NewBackend("b", NewServer("s", "10.0.0.11:8080"))
	b.Health = NewHealth("/status")
	b.Passive = &Passive{ConsecutiveFailures: 5, EjectFor: Duration(30e9)}
	b.TLS = &BackendTLS{ServerName: "b.internal", CAFile: "/ca.pem"}
	c.Backends = []Backend{b}
	return c
}
