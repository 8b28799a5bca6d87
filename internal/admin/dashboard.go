package admin

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// uiFiles are the dashboard's template (ui/dashboard.html) and the files
// the browser loads as they are (ui/static): no build step, no CDN.
//
//go:embed ui/dashboard.html ui/static
var uiFiles embed.FS

// dashboardTemplate is parsed once; executing it does not change it.
var dashboardTemplate = template.Must(template.New("dashboard.html").
	Funcs(dashboardFuncs).ParseFS(uiFiles, "ui/dashboard.html"))

// contentSecurityPolicy lets the dashboard load its own script, styles and
// icon and call its own API, and nothing else: no inline script or style,
// no other origin, no framing.
const contentSecurityPolicy = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// dashboardPollInterval is how often the page asks for fresh status.
const dashboardPollInterval = 2 * time.Second

// routeDashboard adds the dashboard at / and its files under /ui/.
func (s *Server) routeDashboard(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", s.dashboard)
	mux.Handle("GET /ui/", uiAssets())
}

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// dashboard renders the first view from the live status, so that the page
// shows every server before its script runs (or without it); the script
// then keeps it current from the JSON API.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	st := statusOf(s.o.Engine)
	st.Network = s.networkFindings()
	page := newDashboardPage(st, reloadHistory(s.o.Engine, dashboardReloads).Reloads, s.o.Token != "")
	var buf bytes.Buffer
	if err := dashboardTemplate.Execute(&buf, page); err != nil {
		s.log.Error("dashboard template", "error", err.Error())
		writeError(w, http.StatusInternalServerError, "dashboard", "the dashboard could not be rendered: %v", err)
		return
	}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// uiAssets serves the script, style sheet and icon. They are asked to be
// revalidated, so that a new binary's files are seen at the next load.
func uiAssets() http.Handler {
	static, err := fs.Sub(uiFiles, "ui/static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(static))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			writeError(w, http.StatusNotFound, "not_found", "no such file: %s", r.URL.Path)
			return
		}
		securityHeaders(w.Header())
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
