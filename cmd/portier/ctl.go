package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/portier/portier/internal/admin"
	"github.com/portier/portier/internal/config"
)

const ctlUsage = `Usage: portier ctl [flags] COMMAND

Commands:
  status                        every server: state, health, reason, since, in-flight, requests
  drain BACKEND/SERVER          no new request or connection; in-flight work finishes
  maint BACKEND/SERVER          maintenance: no traffic at all
  ready BACKEND/SERVER          back into rotation
  weight BACKEND/SERVER N       set the weight (0 to 1000)
  reload                        reload the configuration file: prints the changes, or every error
                                (the running configuration keeps serving)
  upgrade                       start the new binary on the same sockets; this process finishes and exits

Flags:
`

// ctlClient calls the admin API of a running Portier.
type ctlClient struct {
	base  string
	token string
	http  *http.Client
}

func cmdCtl(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, ctlUsage)
		fs.PrintDefaults()
	}
	path := configFlag(fs)
	addr := fs.String("admin", os.Getenv("PORTIER_ADMIN"), "admin `address` (default: from -c, else $PORTIER_ADMIN, else 127.0.0.1:9901)")
	tokenFile := fs.String("token-file", "", "`file` holding the admin token (default: from -c, else $PORTIER_ADMIN_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := newCtlClient(*path, *addr, *tokenFile)
	if err != nil {
		fmt.Fprintf(stderr, "portier ctl: %v\n", err)
		return 1
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return 2
	}
	switch cmd := rest[0]; {
	case cmd == "status" && len(rest) == 1:
		return c.status(stdout, stderr)
	case (cmd == "drain" || cmd == "maint" || cmd == "ready") && len(rest) == 2:
		state := map[string]string{"drain": "drain", "maint": "maintenance", "ready": "ready"}[cmd]
		return c.change(stdout, stderr, "POST", rest[1], "state", fmt.Sprintf(`{"state": %q}`, state))
	case cmd == "weight" && len(rest) == 3:
		w, err := strconv.Atoi(rest[2])
		if err != nil {
			fmt.Fprintf(stderr, "portier ctl weight: %q is not a number\n", rest[2])
			return 2
		}
		return c.change(stdout, stderr, "PUT", rest[1], "weight", fmt.Sprintf(`{"weight": %d}`, w))
	case cmd == "reload" && len(rest) == 1:
		return c.reload(stdout, stderr)
	case cmd == "upgrade" && len(rest) == 1:
		return c.upgrade(stdout, stderr)
	}
	fs.Usage()
	return 2
}

// newCtlClient finds the admin address and token: flags first, then the
// configuration file, then the environment, then the default address.
func newCtlClient(cfgPath, addr, tokenFile string) (*ctlClient, error) {
	token := os.Getenv("PORTIER_ADMIN_TOKEN")
	if cfgPath != "" {
		a, err := adminOf(cfgPath)
		if err != nil {
			return nil, err
		}
		if addr == "" {
			addr = a.Address
		}
		if tokenFile == "" {
			tokenFile = a.TokenFile
		}
	}
	if addr == "" {
		addr = "127.0.0.1:9901"
	}
	if addr == "off" {
		return nil, fmt.Errorf("the admin endpoint is off in the configuration")
	}
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, err
		}
		token = strings.TrimSpace(string(b))
	}
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	return &ctlClient{base: "http://" + addr, token: token, http: &http.Client{Timeout: 10 * time.Second}}, nil
}

// adminOf reads the admin section of a configuration file. A file that
// does not load whole (the reason for a "ctl reload" may be to see its
// errors) is read for its admin keys alone.
func adminOf(path string) (config.Admin, error) {
	cfg, err := loadConfig(path)
	if err == nil {
		return cfg.Admin, nil
	}
	data, rerr := os.ReadFile(path)
	if rerr != nil {
		return config.Admin{}, rerr
	}
	var partial struct {
		Admin struct {
			Address   string `yaml:"address"`
			TokenFile string `yaml:"token_file"`
		} `yaml:"admin"`
	}
	if yaml.Unmarshal(data, &partial) != nil {
		return config.Admin{}, err // the file's own errors say more
	}
	a := config.New().Admin
	if partial.Admin.Address != "" {
		if a.Address, rerr = config.ExpandEnv(partial.Admin.Address, os.LookupEnv); rerr != nil {
			return config.Admin{}, err
		}
	}
	if a.TokenFile, rerr = config.ExpandEnv(partial.Admin.TokenFile, os.LookupEnv); rerr != nil {
		return config.Admin{}, err
	}
	return a, nil
}

// do sends a request and decodes a 2xx JSON answer into out; an error
// answer becomes an error with the API's message.
func (c *ctlClient) do(method, path, body string, out any) error {
	code, b, err := c.send(method, path, body)
	if err != nil {
		return err
	}
	if code/100 != 2 {
		var e struct{ Code, Message string }
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s (%d %s)", e.Message, code, e.Code)
		}
		return fmt.Errorf("%d %s: %s", code, http.StatusText(code), strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, out)
}

// send sends a request and returns the answer's status and body.
func (c *ctlClient) send(method, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("cannot reach the admin API: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, b, err
}

// reload asks for a reload and prints what changed, or every error.
func (c *ctlClient) reload(stdout, stderr io.Writer) int {
	code, b, err := c.send("POST", "/api/v1/reload", "")
	if err != nil {
		fmt.Fprintf(stderr, "portier ctl: %v\n", err)
		return 1
	}
	var ans admin.ReloadAnswer
	if (code == http.StatusOK || code == http.StatusUnprocessableEntity) && json.Unmarshal(b, &ans) == nil {
		if ans.OK {
			fmt.Fprint(stdout, ans.Diff.String())
			return 0
		}
		fmt.Fprintln(stderr, "portier ctl: reload refused; the running configuration keeps serving:")
		for _, e := range ans.Errors {
			fmt.Fprintln(stderr, e.Error())
		}
		return 1
	}
	var e struct{ Code, Message string }
	if json.Unmarshal(b, &e) == nil && e.Message != "" {
		fmt.Fprintf(stderr, "portier ctl: %s (%d %s)\n", e.Message, code, e.Code)
	} else {
		fmt.Fprintf(stderr, "portier ctl: %d %s\n", code, http.StatusText(code))
	}
	return 1
}

// upgrade asks the running process to start the new binary.
func (c *ctlClient) upgrade(stdout, stderr io.Writer) int {
	var ans struct{ Message string }
	if err := c.do("POST", "/api/v1/upgrade", "", &ans); err != nil {
		fmt.Fprintf(stderr, "portier ctl: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, ans.Message)
	return 0
}

func (c *ctlClient) change(stdout, stderr io.Writer, method, target, what, body string) int {
	backend, server, ok := strings.Cut(target, "/")
	if !ok || backend == "" || server == "" {
		fmt.Fprintf(stderr, "portier ctl: %q: want BACKEND/SERVER\n", target)
		return 2
	}
	var s admin.ServerStatus
	if err := c.do(method, "/api/v1/backends/"+backend+"/servers/"+server+"/"+what, body, &s); err != nil {
		fmt.Fprintf(stderr, "portier ctl: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s/%s: %s, weight %d, %d in flight\n", backend, s.Name, s.State, s.BaseWeight, s.InFlight)
	return 0
}

func (c *ctlClient) status(stdout, stderr io.Writer) int {
	var st admin.Status
	if err := c.do("GET", "/api/v1/status", "", &st); err != nil {
		fmt.Fprintf(stderr, "portier ctl: %v\n", err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tSERVER\tADDRESS\tSTATE\tHEALTH\tSINCE\tWEIGHT\tIN-FLIGHT\tREQUESTS\tREASON")
	now := time.Now()
	for _, b := range st.Backends {
		for _, s := range b.Servers {
			weight := strconv.Itoa(s.Weight)
			if s.Weight != s.BaseWeight {
				weight += "/" + strconv.Itoa(s.BaseWeight)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", b.Name, s.Name, s.Address,
				s.State, s.Health, ago(now, s.Since), weight, s.InFlight, s.Requests, orDash(s.Reason))
		}
	}
	tw.Flush()
	for _, r := range st.Routes {
		if !r.Ready {
			fmt.Fprintf(stdout, "\nroute %s cannot serve: %s\n", r.Name, r.Reason)
		}
	}
	return 0
}

// ago writes how long before now t was, to the second.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Truncate(time.Second).String() + " ago"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
