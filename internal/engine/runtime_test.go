package engine

import (
	"testing"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/upstream"
)

// TestRestore: saved state applies to a server whose identity is
// unchanged; an API weight only while the configured weight is the same;
// a server whose address changed starts as configured and is reported.
func TestRestore(t *testing.T) {
	cfg := checkedConfig(config.NewServer("a", "127.0.0.1:1001"), config.NewServer("b", "127.0.0.1:1002"),
		config.NewServer("c", "127.0.0.1:1003"))
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	old, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sa, sb, sc := old.Backends["app"].Servers[0], old.Backends["app"].Servers[1], old.Backends["app"].Servers[2]
	sa.SetAdmin(upstream.Draining)
	sa.SetAPIWeight(7)
	sb.SetAPIWeight(9)
	sc.SetAdmin(upstream.Maintenance)
	saved := old.RuntimeState()

	next := checkedConfig(config.NewServer("a", "127.0.0.1:1001"), config.NewServer("b", "127.0.0.1:1002"),
		config.NewServer("c", "127.0.0.1:2003"))
	next.Backends[0].Servers[1].Weight = 50
	if err := next.Validate(); err != nil {
		t.Fatal(err)
	}
	snap, err := Build(next)
	if err != nil {
		t.Fatal(err)
	}
	dropped := snap.Restore(saved)
	na, nb, nc := snap.Backends["app"].Servers[0], snap.Backends["app"].Servers[1], snap.Backends["app"].Servers[2]
	if na.Admin() != upstream.Draining || na.BaseWeight() != 7 {
		t.Errorf("unchanged server: %v weight %d, want draining weight 7", na.Admin(), na.BaseWeight())
	}
	if _, api := nb.APIWeight(); api || nb.BaseWeight() != 50 {
		t.Errorf("server whose configured weight changed: weight %d, want 50 from the configuration", nb.BaseWeight())
	}
	if nc.Admin() != upstream.Ready || nc.State() != upstream.Pending {
		t.Errorf("moved server: %v %v, want ready and pending", nc.Admin(), nc.State())
	}
	if len(dropped) != 1 || dropped[0].Server != "c" || dropped[0].Changes[0].String() != "address: 127.0.0.1:1003 -> 127.0.0.1:2003" {
		t.Errorf("dropped: %+v", dropped)
	}
}
