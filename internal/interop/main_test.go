package interop_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildPortier builds ./cmd/portier on first use and returns the binary's
// path; TestMain sets it once, before any test runs.
var buildPortier func() (string, error)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "portier-interop-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "interop: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	buildPortier = sync.OnceValues(func() (string, error) {
		bin := filepath.Join(dir, "portier")
		cmd := exec.Command("go", "build", "-o", bin, "github.com/portier/portier/cmd/portier")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build ./cmd/portier: %w\n%s", err, out)
		}
		return bin, nil
	})
	return m.Run()
}

func portierPath(t *testing.T) string {
	t.Helper()
	bin, err := buildPortier()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// curl runs the real curl with args and returns what it printed on stdout.
func curl(t *testing.T, args ...string) string {
	t.Helper()
	bin := requireTool(t, "curl")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-sS", "--max-time", "20"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// startNginx runs nginx in the foreground as an origin serving files (name
// -> content), which echoes in response headers what it received from the
// proxy in front of it, and returns its address.
func startNginx(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		writeFile(t, filepath.Join(root, name), content)
	}
	// nginx echoes these request headers back as X-Seen-<name>.
	var echo strings.Builder
	for _, h := range []string{"Via", "X-Request-ID", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"} {
		v := "$http_" + strings.ReplaceAll(strings.ToLower(h), "-", "_")
		fmt.Fprintf(&echo, "\t\t\tadd_header X-Seen-%s %q always;\n", h, v)
	}
	return runNginx(t, "", fmt.Sprintf("\t\troot %s;\n\t\tlocation / {\n%s\t\t}\n", root, echo.String()))
}

// runNginx runs nginx in the foreground on a temporary prefix with one
// server, which listens on an inherited loopback socket (listen is what
// follows the address in its listen directive, such as "proxy_protocol")
// and holds the given directives. It returns the address.
func runNginx(t *testing.T, listen, directives string) string {
	t.Helper()
	bin := requireTool(t, "nginx")
	dir := t.TempDir()
	addr, ln := inheritedListener(t)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // the workers must read the test's temp dirs
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	server {
		listen %[3]s %[4]s;
%[5]s	}
}
`, user, dir, addr, listen, directives)
	writeFile(t, filepath.Join(dir, "nginx.conf"), conf)
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"),
		"-e", "stderr", "-g", "daemon off;")
	cmd.ExtraFiles = []*os.File{ln}
	cmd.Env = append(os.Environ(), "NGINX=3;")
	start(t, "nginx", cmd)
	return addr
}
