package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
)

func intp(n int) *int { return &n }

// sampleEntries are deliberately out of order.
func sampleEntries() []Entry {
	return []Entry{
		{
			Backend: "shop", Server: "web-2",
			Identity: config.ServerIdentity{Address: "web-02:2443", TLS: true, ServerName: "shop.internal", SendProxyProtocol: "v2"},
			Admin:    AdminDraining, Weight: intp(0), Health: HealthDown, Reason: "status 503 <html>",
			Since: time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("", 2*3600)),
		},
		{
			Backend: "api", Server: "a",
			Identity: config.ServerIdentity{Address: "10.0.0.1:80", HTTP2: true, SendProxyProtocol: "none"},
			Admin:    AdminReady, Health: HealthPending,
		},
		{
			Backend: "shop", Server: "web-1",
			Identity: config.ServerIdentity{Address: "web-01:2443", TLS: true, SendProxyProtocol: "v2"},
			Admin:    AdminMaintenance, Weight: intp(250), Health: HealthUp,
			Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		},
	}
}

// sameEntries compares entry lists by their JSON form, which is exact for
// every field and independent of how a time's zone is held in memory.
func sameEntries(t *testing.T, got, want []Entry) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Fatalf("entries differ\n got: %s\nwant: %s", g, w)
	}
}

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	in := sampleEntries()
	if err := Save(path, in); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{in[1], in[2], in[0]} // sorted by backend, then server
	sameEntries(t, got, want)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode %v, want 0600", mode)
	}
	if names := dirNames(t, dir); len(names) != 1 || names[0] != "state.json" {
		t.Errorf("directory holds %q, want only state.json", names)
	}
	data, _ := os.ReadFile(path)
	var doc struct {
		Version int
		Saved   string
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != 1 {
		t.Errorf("version %d, want 1", doc.Version)
	}
	if _, err := time.Parse(time.RFC3339, doc.Saved); err != nil {
		t.Errorf("saved %q: %v", doc.Saved, err)
	}
	for _, want := range []string{"{\n  \"version\": 1,\n  \"saved\": ", `"reason": "status 503 <html>"`, `"since": "2026-03-04T05:06:07.00000089+02:00"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("file lacks %q:\n%s", want, data)
		}
	}
	if strings.Contains(string(data), `"since": "0001`) {
		t.Errorf("a zero since was written:\n%s", data)
	}

	// Saving again replaces the file whole.
	if err := Save(path, in[:1]); err != nil {
		t.Fatal(err)
	}
	got, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sameEntries(t, got, in[:1])
}

func TestSaveEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := Save(path, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), `"servers": []`) {
		t.Errorf("file:\n%s\nwant an empty servers list", data)
	}
	got, err := Load(path)
	if got != nil || err != nil {
		t.Fatalf("Load = %v, %v; want nil, nil", got, err)
	}
}

func TestLoadMissing(t *testing.T) {
	got, err := Load(filepath.Join(t.TempDir(), "nope.json"))
	if got != nil || err != nil {
		t.Fatalf("Load = %v, %v; want nil, nil", got, err)
	}
}

func TestSaveFailureKeepsOldFile(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) (path string, entries []Entry)
		wantErr string
	}{
		{
			name: "read-only directory",
			setup: func(t *testing.T, dir string) (string, []Entry) {
				if os.Geteuid() == 0 {
					t.Skip("root writes to read-only directories")
				}
				path := filepath.Join(dir, "state.json")
				if err := Save(path, sampleEntries()[:1]); err != nil {
					t.Fatal(err)
				}
				os.Chmod(dir, 0o500)
				t.Cleanup(func() { os.Chmod(dir, 0o700) })
				return path, sampleEntries()
			},
			wantErr: "permission denied",
		},
		{
			name: "path is a directory",
			setup: func(t *testing.T, dir string) (string, []Entry) {
				path := filepath.Join(dir, "state.json")
				if err := os.MkdirAll(filepath.Join(path, "inside"), 0o700); err != nil {
					t.Fatal(err)
				}
				return path, sampleEntries()
			},
		},
		{
			name: "parent is a file",
			setup: func(t *testing.T, dir string) (string, []Entry) {
				os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o600)
				return filepath.Join(dir, "file", "state.json"), sampleEntries()
			},
			wantErr: "not a directory",
		},
		{
			name: "entry Load would refuse",
			setup: func(t *testing.T, dir string) (string, []Entry) {
				path := filepath.Join(dir, "state.json")
				if err := Save(path, sampleEntries()[:1]); err != nil {
					t.Fatal(err)
				}
				bad := sampleEntries()
				bad[2].Admin = "drain"
				return path, bad
			},
			wantErr: `servers[2]: admin: "drain" is not one of ready, draining, maintenance`,
		},
		{
			name: "server twice",
			setup: func(t *testing.T, dir string) (string, []Entry) {
				return filepath.Join(dir, "state.json"), append(sampleEntries(), sampleEntries()[0])
			},
			wantErr: `servers[3]: backend "shop" server "web-2" already saved as servers[0]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path, entries := tt.setup(t, dir)
			before := dirNames(t, dir)
			old, _ := os.ReadFile(path)
			err := Save(path, entries)
			if err == nil {
				t.Fatal("Save succeeded")
			}
			if !strings.Contains(err.Error(), "state: save "+path+": ") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to name %s and say %q", err, path, tt.wantErr)
			}
			if after := dirNames(t, dir); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("directory changed from %q to %q", before, after)
			}
			if now, _ := os.ReadFile(path); !bytes.Equal(now, old) {
				t.Errorf("old file changed:\n%s\nto\n%s", old, now)
			}
		})
	}
}

// badCase is a state file that Load must refuse.
type badCase struct {
	name    string
	data    string
	wantErr string
}

// validFile is a small well-formed state file.
const validFile = `{
  "version": 1,
  "saved": "2026-01-02T03:04:05Z",
  "servers": [
    {
      "backend": "shop",
      "server": "web-1",
      "identity": {"address": "web-01:1443", "tls": true, "http2": false, "send_proxy_protocol": "none"},
      "admin": "draining",
      "weight": 50,
      "health": "up",
      "reason": "ok",
      "since": "2026-01-02T03:00:00Z"
    }
  ]
}
`

func badCases() []badCase {
	entry := func(admin, health string) string {
		return `{"backend":"b","server":"s","identity":{"address":"h:1"},"admin":"` + admin + `","health":"` + health + `"}`
	}
	doc := func(servers ...string) string {
		return `{"version":1,"saved":"2026-01-02T03:04:05Z","servers":[` + strings.Join(servers, ",") + `]}`
	}
	return []badCase{
		{"empty", "", "empty file"},
		{"white space", " \n\t\n", "empty file"},
		{"truncated", validFile[:len(validFile)/2], "truncated: the JSON ends early at line 8"},
		{"truncated after object start", "{", "truncated"},
		{"garbage", "\x00\x01PK\x03\x04 not json", "line 1, column 1: invalid character"},
		{"syntax error on line 3", "{\n  \"version\": 1,\n  \"saved\" \"x\"\n}", "line 3, column 11: invalid character"},
		{"top level array", `[1]`, "line 1, column 1: the top level is not a JSON object"},
		{"top level string", `"x"`, "the top level is not a JSON object"},
		{"data after the object", doc() + "\n{}", "line 2, column 1: invalid character '{' after top-level value"},
		{"wrong version", strings.Replace(validFile, `"version": 1`, `"version": 2`, 1), "version: 2 is not supported, only 1"},
		{"version as a string", strings.Replace(validFile, `"version": 1`, `"version": "1"`, 1), "line 2, column 17: version: got JSON string, want int"},
		{"version missing", `{"saved":"2026-01-02T03:04:05Z","servers":[]}`, "version: missing"},
		{"saved missing", `{"version":1,"servers":[]}`, "saved: missing"},
		{"saved not a time", `{"version":1,"saved":"yesterday","servers":[]}`, `saved: "yesterday" is not an RFC 3339 time`},
		{"servers missing", `{"version":1,"saved":"2026-01-02T03:04:05Z"}`, "servers: missing"},
		{"servers null", `{"version":1,"saved":"2026-01-02T03:04:05Z","servers":null}`, "servers: missing"},
		{"unknown member", strings.Replace(validFile, `"reason"`, `"port": 1443, "reason"`, 1), `unknown field "port"`},
		{"unknown identity member", strings.Replace(validFile, `"tls": true`, `"tls": true, "sni": "x"`, 1), `unknown field "sni"`},
		{"duplicate server", doc(entry("ready", "up"), entry("draining", "up")), `servers[1]: backend "b" server "s" already saved as servers[0]`},
		{"duplicate member", strings.Replace(validFile, `"admin": "draining",`, `"admin": "draining", "admin": "ready",`, 1), `line 9, column 28: member "admin" appears twice in one object`},
		{"duplicate member in other case", strings.Replace(validFile, `"admin": "draining",`, `"admin": "draining", "Admin": "ready",`, 1), `member "Admin" appears twice`},
		{"duplicate member spelt with a Kelvin sign", strings.Replace(validFile, `"backend": "shop",`, `"backend": "shop", "bac\u212aend": "x",`, 1), `member "bacKend" appears twice`},
		{"unknown admin", doc(entry("drain", "up")), `servers[0]: admin: "drain" is not one of ready, draining, maintenance`},
		{"empty admin", doc(entry("", "up")), `servers[0]: admin: "" is not one of`},
		{"unknown health", doc(entry("ready", "UP")), `servers[0]: health: "UP" is not one of pending, up, down`},
		{"weight out of range", strings.Replace(validFile, `"weight": 50`, `"weight": 1001`, 1), "servers[0]: weight: 1001 is not from 0 to 1000"},
		{"negative weight", strings.Replace(validFile, `"weight": 50`, `"weight": -1`, 1), "weight: -1 is not from 0 to 1000"},
		{"fractional weight", strings.Replace(validFile, `"weight": 50`, `"weight": 1.5`, 1), "line 10, column 20: servers.weight: got JSON number 1.5, want int"},
		{"empty backend", strings.Replace(validFile, `"backend": "shop"`, `"backend": ""`, 1), "servers[0]: backend: must not be empty"},
		{"since not a time", strings.Replace(validFile, `"since": "2026-01-02T03:00:00Z"`, `"since": "soon"`, 1), `parsing time "soon"`},
		{"nested too deep", `{"version":1,"x":[[[[[[[[[]]]]]]]]]}`, "nested more than 8 deep"},
	}
}

var asideName = regexp.MustCompile(`^state\.json\.bad-\d{8}T\d{6}(-\d+)?$`)

func TestLoadRefusesBadFile(t *testing.T) {
	for _, tt := range badCases() {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := Load(path)
			if got != nil || err == nil {
				t.Fatalf("Load = %v, %v; want nil and an error", got, err)
			}
			checkAside(t, err, path, []byte(tt.data))
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q\nwant it to say %q", err, tt.wantErr)
			}
		})
	}
}

// checkAside checks that err is a LoadError naming path and the file it
// was moved to, and that the moved file holds data.
func checkAside(t *testing.T, err error, path string, data []byte) {
	t.Helper()
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error %T %v, want *LoadError", err, err)
	}
	if le.Path != path || le.Aside == "" || le.MoveErr != nil {
		t.Fatalf("LoadError %+v, want the file moved aside", le)
	}
	if !asideName.MatchString(filepath.Base(le.Aside)) || filepath.Dir(le.Aside) != filepath.Dir(path) {
		t.Errorf("moved aside to %s, want %s.bad-YYYYMMDDTHHMMSS", le.Aside, path)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "state: load "+path+": ") || !strings.HasSuffix(msg, "; the file was moved aside to "+le.Aside) {
		t.Errorf("error %q does not name %s and %s", msg, path, le.Aside)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after being moved aside: %v", path, err)
	}
	kept, rerr := os.ReadFile(le.Aside)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if !bytes.Equal(kept, data) {
		t.Errorf("aside file holds %d bytes, want the original %d", len(kept), len(data))
	}
}

func TestLoadTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse file: no time spent writing 64 MiB.
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = Load(path)
	if err == nil || !strings.Contains(err.Error(), "larger than 64 MiB, the most Load reads") {
		t.Fatalf("error %v, want it to say the file is too large", err)
	}
	var le *LoadError
	if !errors.As(err, &le) || le.Aside == "" {
		t.Fatalf("error %v, want the file moved aside", err)
	}
	if fi, err := os.Stat(le.Aside); err != nil || fi.Size() != MaxFileSize+1 {
		t.Errorf("aside file: %v, %v", fi, err)
	}
}

func TestLoadLeavesNonFileAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var le *LoadError
	if !errors.As(err, &le) || le.Aside != "" || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("error %v, want a LoadError saying it is not a regular file", err)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Errorf("directory was moved: %v", err)
	}
}

// TestLoadCannotMoveAside checks that a file that cannot be moved aside is
// reported with the reason, here a parent that is a file.
func TestLoadCannotMoveAside(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(parent, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(filepath.Join(parent, "state.json"))
	var le *LoadError
	if !errors.As(err, &le) || le.Aside != "" || le.MoveErr == nil {
		t.Fatalf("error %v, want a LoadError saying the file could not be moved aside", err)
	}
	if msg := le.MoveErr.Error(); !strings.Contains(msg, "not a directory") {
		t.Errorf("MoveErr %q, want the reason the name cannot be used", msg)
	}
}

func TestLoadUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files without read permission")
	}
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path, []byte(validFile), 0o000)
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("error %v, want permission denied", err)
	}
	checkAside(t, err, path, nil) // unreadable, so compare nothing but the name
}

func TestLoadKeepsEarlierAsideFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	var asides []string
	for i := range 3 {
		data := []byte("bad " + string(rune('a'+i)))
		os.WriteFile(path, data, 0o600)
		_, err := Load(path)
		checkAside(t, err, path, data)
		var le *LoadError
		errors.As(err, &le)
		asides = append(asides, le.Aside)
	}
	if asides[0] == asides[1] || asides[1] == asides[2] || asides[0] == asides[2] {
		t.Errorf("aside names repeat: %q", asides)
	}
}

func TestLoadValidFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path, []byte(validFile), 0o600)
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{
		Backend: "shop", Server: "web-1",
		Identity: config.ServerIdentity{Address: "web-01:1443", TLS: true, SendProxyProtocol: "none"},
		Admin:    AdminDraining, Weight: intp(50), Health: HealthUp, Reason: "ok",
		Since: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC),
	}}
	sameEntries(t, got, want)
}
