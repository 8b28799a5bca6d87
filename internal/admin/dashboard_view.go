package admin

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"
)

// dashboardPage is what the dashboard's template renders: the same status
// and reload history the JSON API serves, and the few facts the page's
// script needs.
type dashboardPage struct {
	Status  Status
	Reloads []ReloadRecord
	// TokenRequired says that the buttons need the admin token.
	TokenRequired bool
	// PollMS is the script's polling interval in milliseconds.
	PollMS int64
	// ServersUp counts the servers in state up, of Servers.
	ServersUp, Servers int
	// RoutesReady counts the routes that can serve.
	RoutesReady int
	// Connections counts the clients connected to every listener.
	Connections int64
}

// dashboardReloads is how many reloads the dashboard lists.
const dashboardReloads = 5

func newDashboardPage(st Status, reloads []ReloadRecord, tokenRequired bool) dashboardPage {
	p := dashboardPage{
		Status:        st,
		Reloads:       reloads,
		TokenRequired: tokenRequired,
		PollMS:        dashboardPollInterval.Milliseconds(),
	}
	for _, b := range st.Backends {
		for _, s := range b.Servers {
			p.Servers++
			if s.State == "up" {
				p.ServersUp++
			}
		}
	}
	for _, r := range st.Routes {
		if r.Ready {
			p.RoutesReady++
		}
	}
	for _, l := range st.Listeners {
		p.Connections += l.ActiveConnections
	}
	return p
}

// dashboardFuncs format values the way the page's script does, so that the
// first view and the live one read the same.
var dashboardFuncs = template.FuncMap{
	"ago":     func(t time.Time) string { return DurationWords(time.Since(t)) },
	"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"ms":      func(ms float64) string { return LatencyWords(ms / 1000) },
	"check":   checkWords,
	"weight":  weightWords,
	"overlay": func(s ServerStatus) bool { return s.Admin != "" && s.Admin != "ready" },
	"join":    func(names []string) string { return strings.Join(names, ", ") },
}

// checkWords is the server's last health verdict in words.
func checkWords(s ServerStatus) string {
	switch {
	case s.Reason != "":
		return s.Reason
	case s.Health == "pending":
		return "not checked yet"
	}
	return "—"
}

// weightWords is the effective weight, and the configured one while they
// differ (slow start).
func weightWords(s ServerStatus) string {
	if s.Weight != s.BaseWeight {
		return fmt.Sprintf("%d of %d", s.Weight, s.BaseWeight)
	}
	return strconv.Itoa(s.Weight)
}
