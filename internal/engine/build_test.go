package engine

import (
	"testing"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/proxy"
)

func TestHashKey(t *testing.T) {
	for _, tc := range []struct {
		balance, key string
		kind         proxy.HashKind
		name         string
	}{
		{config.BalanceRoundRobin, "header:X-User", proxy.HashNone, ""},
		{config.BalanceHash, "", proxy.HashClientIP, ""},
		{config.BalanceHash, "client_ip", proxy.HashClientIP, ""},
		{config.BalanceHash, "path", proxy.HashPath, ""},
		{config.BalanceHash, "header:X-User", proxy.HashHeader, "X-User"},
		{config.BalanceHash, "cookie:session", proxy.HashCookie, "session"},
	} {
		t.Run(tc.balance+" "+tc.key, func(t *testing.T) {
			b := config.NewBackend("b")
			b.Balance, b.HashKey = tc.balance, tc.key
			if kind, name := hashKey(&b); kind != tc.kind || name != tc.name {
				t.Fatalf("got %v %q, want %v %q", kind, name, tc.kind, tc.name)
			}
		})
	}
}
