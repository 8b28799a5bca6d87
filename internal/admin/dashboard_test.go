package admin

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/portier/portier/internal/config"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write docs/dashboard.png from the browser test")

// TestDashboardFirstView: the page at / shows every listener, route and
// server with its state and last check before any script runs, and is
// served with a policy that allows nothing from elsewhere.
func TestDashboardFirstView(t *testing.T) {
	rig := newDashRig(t)
	rig.waitUp(t)
	rig.sick["web-2"].Store(true)
	waitState(t, rig, "shop/web-2", "down")
	rig.eng.Reload(func() (*config.Config, error) { return rig.cfg(1), nil })
	for range 2 {
		if code, _ := call(t, "GET", rig.proxy+"/legacy/x", "", ""); code != http.StatusBadGateway {
			t.Fatalf("a request to a server nobody listens on: %d", code)
		}
	}

	resp, err := http.Get(rig.admin + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body := string(raw)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy: %q", csp)
	}
	for _, want := range []string{
		`data-server="shop/web-1" data-state="up"`,
		`data-server="shop/web-2" data-state="down"`,
		`data-server="shop/web-3" data-state="up"`,
		`data-server="api/api-1" data-state="up"`,
		`data-server="legacy/legacy-1" data-state="up"`,
		`<td data-label="Last check" class="check">status 503</td>`,
		`<td data-label="Last check" class="check">status 200</td>`,
		`connect_refused`, `<span class="sub">2 in a row</span>`,
		`data-key="l:web"`, `data-key="r:api"`, `data-key="r:legacy"`, `data-key="r:shop"`,
		`<span class="value">4 of 5</span>`, // servers up
		`<li class="op-change">~ backends.api.balance: least_conn -&gt; round_robin</li>`,
		`data-token-required="true"`,
		`<script src="/ui/dashboard.js" defer></script>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the first view lacks %s", want)
		}
	}
	for _, f := range rig.findings {
		want := fmt.Sprintf(`<p class="banner %s"><span class="level">%[1]s</span><strong>%s</strong>`, f.Level, f.Code)
		if !strings.Contains(body, want) {
			t.Errorf("the first view lacks the network finding %s", want)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "style=") {
		t.Error("inline script or style: the policy would block it")
	}
}

// TestDashboardFiles: the script, style sheet and icon are served from the
// binary; the template and directory listings are not.
func TestDashboardFiles(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		path     string
		code     int
		ctype    string
		contains string
	}{
		{"/ui/dashboard.js", 200, "text/javascript", `"use strict"`},
		{"/ui/dashboard.css", 200, "text/css", "prefers-color-scheme: dark"},
		{"/ui/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"/ui/", 404, "application/json", "not_found"},
		{"/ui/dashboard.html", 404, "", ""},
		{"/ui/nothing.js", 404, "", ""},
		{"/dashboard.html", 404, "application/json", "not_found"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(f.admin + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(string(b), tc.contains) {
				t.Fatalf("%d %q %.80q; want %d %q containing %q", resp.StatusCode, resp.Header.Get("Content-Type"), b, tc.code, tc.ctype, tc.contains)
			}
			if tc.code == 200 && resp.Header.Get("Content-Security-Policy") == "" {
				t.Error("no Content-Security-Policy")
			}
		})
	}
}

func TestDurationWords(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{1500 * time.Millisecond, "1s"},
		{59 * time.Second, "59s"},
		{125 * time.Second, "2m 5s"},
		{3*time.Hour + 2*time.Minute + 9*time.Second, "3h 2m"},
		{50 * time.Hour, "2d 2h"},
	} {
		if got := DurationWords(tc.d); got != tc.want {
			t.Errorf("DurationWords(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// TestDashboardInBrowser drives the dashboard in a real headless Chromium:
// the page loads without console errors, shows every server, shows a
// server down with its reason once its health endpoint fails, asks for the
// token when a button gets 401, and drains the server with it; screenshots
// are written as artifacts.
func TestDashboardInBrowser(t *testing.T) {
	exe := chromiumPath(t)
	start := time.Now()
	rig := newDashRig(t)
	rig.waitUp(t)
	rig.traffic(t)
	if res := rig.eng.Reload(func() (*config.Config, error) { return rig.cfg(1), nil }); !res.OK() {
		t.Fatal(res.Err)
	}
	refused := config.Errors{{File: "portier.yaml", Line: 23, Column: 15, Path: "backends[1].health.rise", Msg: "must be ≥ 1"}}
	rig.eng.Reload(func() (*config.Config, error) { return nil, refused })

	ctx := newBrowser(t, exe)
	console := watchConsole(ctx)
	b := &browser{t: t, ctx: ctx, console: console}
	b.do(chromedp.Navigate(rig.admin + "/"))
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('#servers tr[data-server]'), r => r.dataset.server)`))
	if err != nil || !slices.Equal(shown, rig.servers) {
		t.Fatalf("servers on the page: %q (%v), want %q", shown, err, rig.servers)
	}
	b.wait("the page updates itself", `document.querySelector('#live').dataset.state === 'live'`)
	b.wait("the reloads show their diff and errors",
		`document.querySelector('#reloads').textContent.includes('~ backends.api.balance: least_conn -> round_robin') &&
		 document.querySelector('#reloads').textContent.includes('portier.yaml:23:15: backends[1].health.rise: must be ≥ 1')`)

	for _, f := range rig.findings {
		b.wait("the network finding "+f.Code,
			fmt.Sprintf(`Array.from(document.querySelectorAll('#banners .banner.%s'), p => p.textContent).includes(%q)`,
				f.Level, string(f.Level)+f.Code+" "+f.Address+": "+f.Message))
	}
	t.Logf("%d network findings shown", len(rig.findings))

	row := `document.querySelector('#servers tr[data-server="shop/web-2"]')`
	rig.sick["web-2"].Store(true)
	failed := time.Now()
	b.wait("web-2 shown down with its reason",
		row+`.dataset.state === 'down' && `+row+`.querySelector('.state').textContent === 'down' && `+
			row+`.querySelector('.check').textContent === 'status 503' && document.title === '(1 down) Portier'`)
	t.Logf("web-2 shown down %v after its health endpoint started failing", time.Since(failed).Round(time.Millisecond))

	drain := chromedp.CSS(`#servers tr[data-server="shop/web-2"] button[data-action="drain"]`)
	b.do(chromedp.Click(drain))
	b.wait("a clear message on 401",
		`!document.querySelector('#notice').hidden && document.querySelector('#notice').textContent.includes('needs the admin token') &&
		 !document.querySelector('#token-form').hidden`)
	if s, _ := rig.status(t).server("shop/web-2"); s.Admin != "ready" {
		t.Fatalf("drained without the token: %+v", s)
	}
	b.do(chromedp.SendKeys(chromedp.ID("token-input"), token), chromedp.Click(chromedp.CSS(`#token-form button[type="submit"]`)))
	b.wait("the token is kept for the tab",
		`!document.querySelector('#token-set').hidden && sessionStorage.getItem('portier.adminToken') === '`+token+`'`)
	b.do(chromedp.Click(drain))
	b.wait("web-2 shown draining", row+`.dataset.state === 'draining' && `+row+`.querySelector('button[data-action="drain"]').disabled`)
	if s, _ := rig.status(t).server("shop/web-2"); s.Admin != "draining" || s.State != "draining" {
		t.Fatalf("the drain button did not drain: %+v", s)
	}
	b.wait("live rates", `document.querySelector('#tile-rps .value').textContent !== '—'`)
	// Every request to legacy-1 fails: nobody listens there.
	b.wait("the error ratio and latency of each route",
		`document.querySelector('#routes tr[data-key="r:legacy"] td[data-label="Errors"]').textContent === '100%' &&
		 document.querySelector('#routes tr[data-key="r:shop"] td[data-label="Errors"]').textContent === '0%' &&
		 document.querySelector('#routes tr[data-key="r:shop"] td[data-label="Latency"]').textContent.endsWith(' ms')`)
	b.wait("the recent upstream errors and the server's last error",
		`Array.from(document.querySelectorAll('#errors tr'), r => r.textContent).some(t => t.includes('legacy/legacy-1') && t.includes('connect_refused') && t.includes('502')) &&
		 document.querySelector('#servers tr[data-server="legacy/legacy-1"] .lasterr').textContent.includes('in a row')`)

	dir := artifactDir(t)
	wide := b.screenshot()
	writeFile(t, filepath.Join(dir, "dashboard.png"), wide)
	if *updateScreenshot {
		writeFile(t, filepath.Join("..", "..", "docs", "dashboard.png"), wide)
	}
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	}); err != nil {
		t.Fatal(err)
	}
	b.wait("cards on a narrow screen, dark colours",
		`getComputedStyle(document.querySelector('.servers thead')).display === 'none' &&
		 getComputedStyle(document.body).backgroundColor !== 'rgb(245, 246, 248)'`)
	writeFile(t, filepath.Join(dir, "dashboard-narrow-dark.png"), b.screenshot())

	if p := console.problems(); len(p) > 0 {
		t.Fatalf("the page wrote errors to the console:\n%s", strings.Join(p, "\n"))
	}
	t.Logf("browser test took %v; screenshots in %s", time.Since(start).Round(time.Millisecond), dir)
}

// browser runs steps in a tab and fails the test with the page's text
// and console errors when one fails.
type browser struct {
	t       *testing.T
	ctx     context.Context
	console *consoleLog
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%v\npage:\n%s", err, b.text())
	}
}

// wait polls a JavaScript expression until it is true, for up to 15s: a
// slow machine gets time, a broken page fails with what it showed.
func (b *browser) wait(what, expr string) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
	if err != nil {
		b.t.Fatalf("%s: %v\npage:\n%s", what, err, b.text())
	}
}

func (b *browser) text() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		s = "(unreadable: " + err.Error() + ")"
	}
	if p := b.console.problems(); len(p) > 0 {
		s += "\nconsole:\n" + strings.Join(p, "\n")
	}
	return s
}

func (b *browser) screenshot() []byte {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	return png
}

// chromiumPath finds Chromium. Without it the test fails as root (make test
// installs it, so it should be there) and is skipped otherwise.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Geteuid() == 0 {
		t.Fatal("chromium is not installed: run scripts/install-test-deps.sh (make test does)")
	}
	t.Skip("chromium is not installed and this user cannot install it: sudo apt-get install chromium, or run scripts/install-test-deps.sh as root")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile, closed when
// the test ends.
func newBrowser(t *testing.T, exe string) context.Context {
	t.Helper()
	profile, err := os.MkdirTemp("", "portier-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.UserDataDir(profile), chromedp.WindowSize(1366, 900))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root in its sandbox
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		bcancel()
		acancel()
		cancel()
		os.RemoveAll(profile)
	})
	return bctx
}

// consoleLog collects what the page writes to its console.
type consoleLog struct {
	mu   sync.Mutex // guards msgs
	msgs []chromedp.ConsoleMessage
}

func watchConsole(ctx context.Context) *consoleLog {
	l := &consoleLog{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			l.mu.Lock()
			l.msgs = append(l.msgs, m)
			l.mu.Unlock()
		}
	}()
	return l
}

// problems are the console errors and uncaught exceptions, and the
// browser's own error entries (a blocked resource, a policy violation)
// but for failed HTTP answers, which the page expects and shows itself
// (the 401 of a button without the token).
func (l *consoleLog) problems() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, m := range l.msgs {
		bad := m.IsException() || m.Type == chromedp.ConsoleError || m.Type == "assert"
		if m.Source == "network" && !m.IsException() {
			bad = false
		}
		if bad {
			out = append(out, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
		}
	}
	return out
}

func artifactDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("PORTIER_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	d, err := os.MkdirTemp("", "portier-dashboard-")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// waitState waits until the API shows a server in a state.
func waitState(t *testing.T, rig *dashRig, name, state string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		s, _ := rig.status(t).server(name)
		if s.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not %s after 15s: %+v", name, state, s)
		}
	}
}
