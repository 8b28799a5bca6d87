package netcheck

import (
	"cmp"
	"fmt"
	"slices"
)

// Level says whether a finding needs action.
type Level string

// Levels. Only Warn makes doctor exit 1.
const (
	Info Level = "info"
	Warn Level = "warn"
)

// Finding codes: stable names, documented in docs/doctor.md.
const (
	// CodeListenAddrMissing: a listener's address is on no interface.
	CodeListenAddrMissing = "listen-addr-missing"
	// CodeReplyIfaceMismatch: replies from a listener address to
	// off-link clients leave by another interface than the one that holds
	// the address. Info when that is by design (VIP on lo or dummy, an
	// interface without a gateway, a firewall-mark rule).
	CodeReplyIfaceMismatch = "reply-iface-mismatch"
	// CodeCompetingDefaults: several default routes of the same metric in
	// the table replies use; the kernel picks one by ARP state.
	CodeCompetingDefaults = "competing-defaults"
	// CodeRPFilterDrop: strict reverse-path filtering drops clients'
	// packets on arrival.
	CodeRPFilterDrop = "rp-filter-drop"
	// CodeConnIfaceMismatch: established connections of the proxy whose
	// packets now leave by another interface than the one they came by.
	CodeConnIfaceMismatch = "conn-iface-mismatch"
	// CodeNoRoute (info): no route at all from a listener address to
	// clients beyond its own networks.
	CodeNoRoute = "no-route"
	// CodeLocalOnly (info): a listener on loopback or a link-local
	// address, which only this host or its link can reach.
	CodeLocalOnly = "local-only"
	// CodeCheckFailed (info): a part of the check could not run.
	CodeCheckFailed = "check-failed"
)

// Finding is one thing the check noticed. Its JSON form is what the admin
// API and the dashboard read.
type Finding struct {
	Code  string `json:"code"`
	Level Level  `json:"level"`
	// Address is the listener address (host:port), or the connection's
	// address, the finding is about.
	Address string `json:"address"`
	// Message is a sentence for the operator: what happens and what to do.
	Message string `json:"message"`
}

// String is the finding as doctor prints it: level, code, address, message.
func (f Finding) String() string {
	return fmt.Sprintf("%-4s  %-20s  %s  %s", f.Level, f.Code, f.Address, f.Message)
}

// Warnings counts the findings that need action.
func Warnings(fs []Finding) int {
	n := 0
	for _, f := range fs {
		if f.Level == Warn {
			n++
		}
	}
	return n
}

// sortFindings orders warnings first, then by code and address, so that
// output and golden files are stable.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if a.Level != b.Level {
			if a.Level == Warn {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.Code, b.Code), cmp.Compare(a.Address, b.Address), cmp.Compare(a.Message, b.Message))
	})
}
