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
	"ago":     func(t time.Time) string { return agoWords(time.Since(t)) },
	"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"ms":      formatMS,
	"check":   checkWords,
	"weight":  weightWords,
	"overlay": func(s ServerStatus) bool { return s.Admin != "" && s.Admin != "ready" },
	"join":    func(names []string) string { return strings.Join(names, ", ") },
}

// agoWords writes a duration the way a person reads it at a glance: "5s",
// "2m 5s", "3h 2m", "2d 3h".
func agoWords(d time.Duration) string {
	s := int64(max(d, 0) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm %ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh %dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd %dh", s/86400, s%86400/3600)
}

// formatMS writes milliseconds with the precision that matters.
func formatMS(ms float64) string {
	switch {
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(ms/1000, 'f', 2, 64) + " s"
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
