package router

import (
	"errors"
	"testing"
)

func TestSNIMatch(t *testing.T) {
	routes := []SNIRoute{
		{ID: 0, Names: []string{"a.test"}},
		{ID: 1, Names: []string{"b.test", "*.b.test"}},
		{ID: 2, Names: []string{"*.x.b.test"}},
		{ID: 3},
		{ID: 4, Names: []string{"A.Dup.test."}},
		{ID: 5, Names: []string{"a.dup.test"}},
	}
	s, err := NewSNI(routes)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		sni    string
		wantID int
	}{
		{name: "exact", sni: "a.test", wantID: 0},
		{name: "exact, any case", sni: "A.TEST", wantID: 0},
		{name: "exact, trailing dot", sni: "a.test.", wantID: 0},
		{name: "exact beats its own wildcard", sni: "b.test", wantID: 1},
		{name: "wildcard", sni: "www.b.test", wantID: 1},
		{name: "wildcard, deeper", sni: "a.c.b.test", wantID: 1},
		{name: "longer wildcard wins", sni: "y.x.b.test", wantID: 2},
		{name: "wildcard does not match its suffix", sni: "x.b.test", wantID: 1},
		{name: "unknown name: default", sni: "c.test", wantID: 3},
		{name: "no name: default", sni: "", wantID: 3},
		{name: "not a host name: default", sni: "a.test:443", wantID: 3},
		{name: "a tie goes to the lower id", sni: "a.dup.test", wantID: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := s.Match(tt.sni)
			if !ok || id != tt.wantID {
				t.Errorf("Match(%q) = %d, %v; want %d, true", tt.sni, id, ok, tt.wantID)
			}
		})
	}
}

func TestSNIWithoutDefault(t *testing.T) {
	s, err := NewSNI([]SNIRoute{{ID: 7, Names: []string{"*.a.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, sni := range []string{"a.test", "", "b.test"} {
		if id, ok := s.Match(sni); ok {
			t.Errorf("Match(%q) = %d, want no route", sni, id)
		}
	}
	if id, ok := s.Match("x.a.test"); !ok || id != 7 {
		t.Errorf("Match(x.a.test) = %d, %v; want 7", id, ok)
	}
	var none *SNI
	if _, ok := none.Match("a.test"); ok {
		t.Error("a nil SNI router matched")
	}
}

func TestNewSNIRefusesBadNames(t *testing.T) {
	for _, name := range []string{"", "*.", "a.*.test", "a/b"} {
		if _, err := NewSNI([]SNIRoute{{Names: []string{name}}}); !errors.Is(err, ErrInvalidRoute) {
			t.Errorf("NewSNI(%q) error = %v, want ErrInvalidRoute", name, err)
		}
	}
}

func BenchmarkSNIMatch(b *testing.B) {
	s, err := NewSNI([]SNIRoute{{ID: 0, Names: []string{"a.test"}}, {ID: 1, Names: []string{"*.b.test"}}, {ID: 2}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if id, _ := s.Match("Www.B.test"); id != 1 {
			b.Fatal(id)
		}
	}
}
