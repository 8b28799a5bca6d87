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
  status                        listeners, routes and every server: state, since when and why, last
                                error, in-flight, requests, errors, mean latency; network findings
  errors [N]                    the last N (default 20) upstream errors, newest first: time, route,
                                server, reason, status, request id, error
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
	case cmd == "errors" && len(rest) <= 2:
		limit := 20
		if len(rest) == 2 {
			if limit, err = strconv.Atoi(rest[1]); err != nil || limit < 1 {
				fmt.Fprintf(stderr, "portier ctl errors: %q is not a positive number\n", rest[1])
				return 2
			}
		}
		return c.listErrors(stdout, stderr, limit)
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

// statusView is what "ctl status" reads of GET /api/v1/status. It names
// the JSON keys itself rather than sharing the server's types, so that a
// key an older Portier does not send reads as unknown ("-").
type statusView struct {
	Listeners []struct {
		Name, Address, Protocol string
		ActiveConnections       *int64 `json:"active_connections"`
	} `json:"listeners"`
	Routes []struct {
		counterView
		Name     string
		Backends []string
		Ready    bool
		Reason   string
	} `json:"routes"`
	Backends []struct {
		Name    string
		Servers []serverView
	} `json:"backends"`
	Network []struct{ Code, Level, Address, Message string } `json:"network"`
}

// counterView are the counters a route or server carries.
type counterView struct {
	Requests        *uint64  `json:"requests"`
	Errors          *uint64  `json:"errors"`
	DurationSeconds *float64 `json:"duration_seconds"`
}

type serverView struct {
	counterView
	Name, Address, State, Health, Admin, Reason string
	Since                                       time.Time
	Weight                                      int
	BaseWeight                                  int       `json:"base_weight"`
	InFlight                                    int64     `json:"in_flight"`
	ConsecutiveFailures                         int       `json:"consecutive_failures"`
	LastError                                   string    `json:"last_error"`
	LastErrorAt                                 time.Time `json:"last_error_at"`
}

func (c *ctlClient) status(stdout, stderr io.Writer) int {
	var st statusView
	if err := c.do("GET", "/api/v1/status", "", &st); err != nil {
		fmt.Fprintf(stderr, "portier ctl: %v\n", err)
		return 1
	}
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LISTENER\tADDRESS\tPROTOCOL\tCONNECTIONS")
	for _, l := range st.Listeners {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Name, l.Address, l.Protocol, orDash(l.ActiveConnections))
	}
	tw.Flush()
	fmt.Fprintln(stdout)
	fmt.Fprintln(tw, "ROUTE\tBACKENDS\tSTATUS\tREQUESTS\tERRORS\tMEAN LATENCY")
	for _, r := range st.Routes {
		ready := "ready"
		if !r.Ready {
			ready = "cannot serve"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, strings.Join(r.Backends, ","), ready, r.counterView)
	}
	tw.Flush()
	fmt.Fprintln(stdout)
	fmt.Fprintln(tw, "BACKEND\tSERVER\tADDRESS\tWEIGHT\tIN-FLIGHT\tREQUESTS\tERRORS\tMEAN LATENCY\tSTATE")
	for _, b := range st.Backends {
		for _, s := range b.Servers {
			weight := strconv.Itoa(s.Weight)
			if s.Weight != s.BaseWeight {
				weight += "/" + strconv.Itoa(s.BaseWeight)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", b.Name, s.Name, s.Address, weight, s.InFlight, s.counterView, s.words(now))
		}
	}
	tw.Flush()
	for _, r := range st.Routes {
		if !r.Ready {
			fmt.Fprintf(stdout, "\nroute %s cannot serve: %s\n", r.Name, r.Reason)
		}
	}
	for i, f := range st.Network {
		if i == 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "%s %s %s: %s\n", f.Level, f.Code, f.Address, f.Message)
	}
	return 0
}

// String writes the requests, errors and mean latency columns.
func (c counterView) String() string {
	latency := "-"
	if c.Requests != nil && *c.Requests > 0 && c.DurationSeconds != nil {
		latency = admin.LatencyWords(*c.DurationSeconds / float64(*c.Requests))
	}
	return orDash(c.Requests) + "\t" + orDash(c.Errors) + "\t" + latency
}

// words says what a server is doing, since when and why, as one phrase:
// "down 2m 5s ago: status 503", "draining (health up 1h 2m ago: status
// 200)", followed by its last error, if any, and how many in a row.
func (s serverView) words(now time.Time) string {
	health := s.Health
	if !s.Since.IsZero() {
		health += " " + ago(now, s.Since)
	}
	if s.Reason != "" {
		health += ": " + s.Reason
	}
	w := health
	if s.Admin != "" && s.Admin != "ready" {
		w = s.Admin + " (health " + health + ")"
	}
	if s.LastError != "" {
		w += "; last error"
		if !s.LastErrorAt.IsZero() {
			w += " " + ago(now, s.LastErrorAt)
		}
		w += ": " + s.LastError
		if s.ConsecutiveFailures > 1 {
			w += fmt.Sprintf(" (%d in a row)", s.ConsecutiveFailures)
		}
	}
	return w
}

// upstreamError is one entry of GET /api/v1/errors.
type upstreamError struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id"`
	Route     string    `json:"route"`
	Backend   string    `json:"backend"`
	Server    string    `json:"server"`
	Reason    string    `json:"reason"`
	Status    int       `json:"status"`
	Error     string    `json:"error"`
}

// listErrors lists the last upstream errors, newest first.
func (c *ctlClient) listErrors(stdout, stderr io.Writer, limit int) int {
	var ans struct {
		Errors []upstreamError `json:"errors"`
	}
	if err := c.do("GET", "/api/v1/errors?limit="+strconv.Itoa(limit), "", &ans); err != nil {
		fmt.Fprintf(stderr, "portier ctl: %v\n", err)
		return 1
	}
	writeErrors(stdout, ans.Errors, time.Now())
	return 0
}

// writeErrors writes upstream errors as a table, times in local time (with
// the date when not today).
func writeErrors(w io.Writer, list []upstreamError, now time.Time) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no upstream errors recorded")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tROUTE\tBACKEND/SERVER\tREASON\tSTATUS\tREQUEST ID\tERROR")
	for _, e := range list {
		at, layout := e.Time.In(now.Location()), "15:04:05"
		if y, m, d := at.Date(); y != now.Year() || m != now.Month() || d != now.Day() {
			layout = "2006-01-02 15:04:05"
		}
		server := e.Backend
		if e.Server != "" {
			server += "/" + e.Server
		}
		status := "-"
		if e.Status != 0 {
			status = strconv.Itoa(e.Status)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", at.Format(layout), orDash(&e.Route), orDash(&server),
			orDash(&e.Reason), status, orDash(&e.RequestID), orDash(&e.Error))
	}
	tw.Flush()
}

// ago says how long before now t was, as the dashboard does: "2m 5s ago".
func ago(now, t time.Time) string { return admin.DurationWords(now.Sub(t)) + " ago" }

// orDash writes a value the server sent, or "-" for one it did not (or
// an empty string).
func orDash[T any](v *T) string {
	if v == nil {
		return "-"
	}
	s := fmt.Sprint(*v)
	if s == "" {
		return "-"
	}
	return s
}
