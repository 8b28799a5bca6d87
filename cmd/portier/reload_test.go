package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// reloadConfig is a configuration whose one server is at addr.
func reloadConfig(addr string, watch bool) string {
	return fmt.Sprintf(`
admin: {address: "127.0.0.1:0"}
watch: %v
listeners:
  - {name: web, address: "127.0.0.1:0"}
routes:
  - {name: all, backend: app}
backends:
  - name: app
    servers:
      - {name: s1, address: %q}
`, watch, addr)
}

// invalidConfigs are broken in different ways; each error names a line.
var invalidConfigs = []struct {
	name, body, want string
}{
	{"yaml syntax", "listeners: [\n  - {name: web\n", `:1: invalid YAML`},
	{"unknown key", "listeners:\n  - {name: web, adress: \":0\"}\n", `:2:17: listeners[0]: unknown key "adress" (did you mean "address"?)`},
	{"unknown backend", "watch: true\nlisteners:\n  - {name: web, address: \"127.0.0.1:0\"}\nroutes:\n  - {name: all, backend: nope}\n", `:5:17: routes[0].backend: unknown backend "nope"`},
	{"bad duration", "shutdown_timeout: soon\n", `:1:19: shutdown_timeout:`},
}

// replace writes body to path the way editors do: a temporary file renamed
// over the old one.
func replace(t *testing.T, path, body string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestReloadTriggers reloads through SIGHUP, the API (portier ctl reload)
// and a watched file change, and sends each kind of invalid configuration
// through each: a valid one serves at once, an invalid one is refused with
// its line in the log and the API answer, and the old one keeps serving.
func TestReloadTriggers(t *testing.T) {
	a, b := named(t, "a"), named(t, "b")
	path := writeFile(t, "portier.yaml", reloadConfig(a.Listener.Addr().String(), false))
	p := start(t, 1, "run", "-c", path)
	base := "http://" + p.addr("web") + "/"
	waitFor(t, func() bool { return p.addr("admin") != "" }, func() string { return "no admin address:\n" + p.logs() })
	admin := p.addr("admin")
	serves := func(want string) func() bool {
		return func() bool {
			resp, err := http.Get(base)
			if err != nil {
				return false
			}
			return readAll(t, resp) == want
		}
	}
	mustServe := func(want string) {
		t.Helper()
		waitFor(t, serves(want), func() string { return "not serving " + want + ":\n" + p.logs() })
	}
	mustServe("a")

	// SIGHUP.
	replace(t, path, reloadConfig(b.Listener.Addr().String(), false))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	mustServe("b")

	// The API, through portier ctl, which prints the diff.
	replace(t, path, reloadConfig(a.Listener.Addr().String(), false))
	code, out, errOut := runCmd(t, "ctl", "--admin", admin, "reload")
	want := fmt.Sprintf("~ backends.app.servers.s1.address: %s -> %s\n", b.Listener.Addr(), a.Listener.Addr())
	if code != 0 || out != want {
		t.Fatalf("ctl reload: %d %q %q, want %q", code, out, errOut, want)
	}
	mustServe("a")
	if code, out, _ := runCmd(t, "ctl", "--admin", admin, "reload"); code != 0 || out != "no changes\n" {
		t.Fatalf("ctl reload of the same file: %d %q", code, out)
	}

	refusals := 0
	for _, bad := range invalidConfigs {
		t.Run("signal/"+bad.name, func(t *testing.T) {
			before := strings.Count(p.logs(), "reload refused")
			replace(t, path, bad.body)
			if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return strings.Count(p.logs(), "reload refused") > before },
				func() string { return "no refusal logged:\n" + p.logs() })
			refusals++
			if !strings.Contains(p.logs(), jsonEscaped(path+bad.want)) {
				t.Errorf("the log does not name %s%s:\n%s", path, bad.want, p.logs())
			}
			if !serves("a")() {
				t.Fatal("the running configuration stopped serving")
			}
		})
		t.Run("api/"+bad.name, func(t *testing.T) {
			replace(t, path, bad.body)
			code, out, errOut := runCmd(t, "ctl", "--admin", admin, "reload")
			refusals++
			if code != 1 || out != "" || !strings.Contains(errOut, path+bad.want) ||
				!strings.Contains(errOut, "the running configuration keeps serving") {
				t.Errorf("ctl reload: %d, stdout %q, stderr %q; want exit 1 and %s%s", code, out, errOut, path, bad.want)
			}
			if !serves("a")() {
				t.Fatal("the running configuration stopped serving")
			}
		})
	}

	// A file change, once the running configuration says watch: true.
	replace(t, path, reloadConfig(a.Listener.Addr().String(), true))
	if code, _, errOut := runCmd(t, "ctl", "--admin", admin, "reload"); code != 0 {
		t.Fatalf("ctl reload: %s", errOut)
	}
	replace(t, path, reloadConfig(b.Listener.Addr().String(), true))
	mustServe("b")
	for _, bad := range invalidConfigs {
		t.Run("file/"+bad.name, func(t *testing.T) {
			before := strings.Count(p.logs(), `"trigger":"file","error"`)
			replace(t, path, bad.body)
			waitFor(t, func() bool { return strings.Count(p.logs(), `"trigger":"file","error"`) > before },
				func() string { return "no refusal logged for the file change:\n" + p.logs() })
			refusals++
			if !strings.Contains(p.logs(), jsonEscaped(path+bad.want)) {
				t.Errorf("the log does not name %s%s", path, bad.want)
			}
			if !serves("b")() {
				t.Fatal("the running configuration stopped serving")
			}
		})
	}

	// Every refusal was counted, and every reload that served too.
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics := readAll(t, resp)
	if m := fmt.Sprintf(`portier_config_reloads_total{result="error"} %d`, refusals); !strings.Contains(metrics, m) {
		t.Errorf("metrics lack %s:\n%s", m, grepLines(metrics, "reload"))
	}
	// Five reloads served; the watch may add one more for the write it
	// saw while watch was being turned on.
	if !strings.Contains(metrics, `portier_config_reloads_total{result="success"} 5`) &&
		!strings.Contains(metrics, `portier_config_reloads_total{result="success"} 6`) {
		t.Errorf("successful reloads miscounted:\n%s", grepLines(metrics, "reload"))
	}
}

// jsonEscaped is s as it appears inside a JSON log string.
func jsonEscaped(s string) string { return strings.ReplaceAll(s, `"`, `\"`) }

// readAll reads and closes a response body.
func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestCtlReloadFromBrokenFile: "portier ctl -c FILE reload" after a
// mistake in FILE still finds the admin endpoint in it, and prints the
// running process's refusal with the line of the mistake.
func TestCtlReloadFromBrokenFile(t *testing.T) {
	a := named(t, "a")
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminAddr := free.Addr().String()
	free.Close()
	good := strings.Replace(reloadConfig(a.Listener.Addr().String(), false),
		`admin: {address: "127.0.0.1:0"}`, `admin: {address: "${PORTIER_TEST_ADMIN:-`+adminAddr+`}"}`, 1)
	path := writeFile(t, "portier.yaml", good)
	start(t, 1, "run", "-c", path)
	replace(t, path, strings.Replace(good, "backend: app}", "backend: nope}", 1))
	var code int
	var out, errOut string
	waitFor(t, func() bool {
		code, out, errOut = runCmd(t, "ctl", "-c", path, "reload")
		return !strings.Contains(errOut, "cannot reach")
	}, func() string { return "admin endpoint not reached: " + errOut })
	if code != 1 || out != "" || !strings.Contains(errOut, path+`:7:17: routes[0].backend: unknown backend "nope"`) {
		t.Fatalf("ctl -c broken.yaml reload: %d %q %q", code, out, errOut)
	}
}
