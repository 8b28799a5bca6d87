package proxy

import (
	"encoding/json"
	"html"
	"net/http"
	"strconv"
	"strings"
)

// Error pages: every answer Portier makes itself (404 no_route, 502, 503,
// 504, 413...) names its reason class and the request id, as HTML for a
// browser, JSON for a client that asks for it, and plain text otherwise
// (DESIGN.md promise 4). Which server failed and how, with its address,
// is only shown when Site.ErrorDetail is set: by default a client learns
// nothing of the network behind the proxy.

// pageFormat is the body format of an error page.
type pageFormat uint8

const (
	pageText pageFormat = iota
	pageJSON
	pageHTML
)

var pageTypes = [...]string{
	pageText: "text/plain; charset=utf-8",
	pageJSON: "application/json",
	pageHTML: "text/html; charset=utf-8",
}

// negotiate picks the error page format by Accept (RFC 9110 §12.5.1): the
// highest q of text/html, application/json and text/plain, an explicit
// media type before a wildcard and, between equals, the one named first,
// then plain text.
// Without Accept, or when none is acceptable, plain text.
func negotiate(accept []string) pageFormat {
	best, bestQ, bestRank := pageText, -1, 0
	pos := 0
	for _, line := range accept {
		for line != "" {
			var item string
			item, line, _ = strings.Cut(line, ",")
			pos++
			mt, params, _ := strings.Cut(item, ";")
			mt = strings.ToLower(strings.TrimSpace(mt))
			q := qvalue(params)
			if q <= 0 {
				continue
			}
			for _, f := range [...]pageFormat{pageText, pageJSON, pageHTML} {
				spec := matchSpecificity(mt, f)
				if spec == 0 {
					continue
				}
				// rank orders equal q: explicit types, then by position.
				rank := spec*1000 - pos
				if q > bestQ || (q == bestQ && rank > bestRank) {
					best, bestQ, bestRank = f, q, rank
				}
			}
		}
	}
	if bestQ < 0 {
		return pageText
	}
	return best
}

// matchSpecificity is 3 when mt names f exactly, 2 for type/*, 1 for */*,
// and 0 when it does not match f. application/problem+json and other
// +json types count as JSON.
func matchSpecificity(mt string, f pageFormat) int {
	typ, sub, _ := strings.Cut(mt, "/")
	var wantType, wantSub string
	switch f {
	case pageHTML:
		wantType, wantSub = "text", "html"
	case pageJSON:
		wantType, wantSub = "application", "json"
		if strings.HasSuffix(sub, "+json") {
			sub = "json"
		}
	default:
		wantType, wantSub = "text", "plain"
	}
	switch {
	case typ == wantType && sub == wantSub:
		return 3
	case typ == wantType && sub == "*":
		return 2
	case typ == "*" && sub == "*":
		return 1
	}
	return 0
}

// qvalue reads the q parameter of an Accept item in thousandths; 1000
// when there is none, 0 when it is malformed.
func qvalue(params string) int {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 1 {
			return 0
		}
		return int(f * 1000)
	}
	return 1000
}

// describe says what a reason class means, for a person reading the page.
func describe(reason string) string {
	switch reason {
	case reasonNoRoute:
		return "No route matches this request's host and path."
	case reasonNoHealthyServer:
		return "No server of this service can take the request right now."
	case "connect_refused":
		return "The server refused the connection."
	case "connect_timeout":
		return "The server did not accept the connection in time."
	case "connect_unreachable":
		return "The server could not be reached."
	case "dns":
		return "The server's name could not be resolved."
	case "connect_error":
		return "A connection to the server could not be opened."
	case reasonResponseTimeout:
		return "The server did not answer in time."
	case reasonUpstreamReset:
		return "The server closed the connection before it answered."
	case reasonBadRequestBody:
		return "The request body could not be read."
	case reasonBodyTooLarge:
		return "The request body is larger than this service accepts."
	case reasonBadUpgrade:
		return "The server answered the protocol upgrade wrongly."
	}
	return "The request failed."
}

// errorPage is what an error page says. Detail is set only when the
// configuration allows it.
type errorPage struct {
	Status    int          `json:"status"`
	Error     string       `json:"error"`
	Reason    string       `json:"reason"`
	Message   string       `json:"message"`
	RequestID string       `json:"request_id"`
	TraceID   string       `json:"trace_id,omitempty"`
	Detail    *errorDetail `json:"detail,omitempty"`
}

// errorDetail names the server that failed and how.
type errorDetail struct {
	Route    string `json:"route,omitempty"`
	Backend  string `json:"backend,omitempty"`
	Server   string `json:"server,omitempty"`
	Address  string `json:"address,omitempty"`
	Error    string `json:"error,omitempty"`
	Attempts int    `json:"attempts"`
	// Servers describes why no server could take the request.
	Servers string `json:"servers,omitempty"`
}

// page builds the error page of the request's failure.
func (ex *exchange) page(status int, reason string) errorPage {
	p := errorPage{
		Status: status, Error: http.StatusText(status), Reason: reason,
		Message: describe(reason), RequestID: ex.id, TraceID: ex.traceHex(),
	}
	if ex.site == nil || !ex.site.ErrorDetail {
		return p
	}
	d := &errorDetail{Attempts: ex.attempts}
	if ex.route != nil {
		d.Route = ex.route.Name
	}
	if ex.backend != nil {
		d.Backend = ex.backend.Name
		if reason == reasonNoHealthyServer {
			d.Servers = serversDown(ex.backend)
		}
	}
	if ex.server != nil && ex.attempts > 0 {
		d.Server, d.Address = ex.server.Name, ex.server.Address
	}
	if ex.lastErr != nil {
		d.Error = ex.lastErr.Err
	}
	p.Detail = d
	return p
}

// text renders p as plain text; the first line is the one earlier
// versions wrote alone.
func (p *errorPage) text() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(p.Status) + " " + p.Error + ": " + p.Reason + " (request id " + p.RequestID + ")\n")
	b.WriteString(p.Message + "\n")
	if p.TraceID != "" {
		b.WriteString("trace id: " + p.TraceID + "\n")
	}
	if d := p.Detail; d != nil {
		for _, kv := range d.pairs() {
			b.WriteString(kv[0] + ": " + kv[1] + "\n")
		}
	}
	return b.String()
}

func (d *errorDetail) pairs() [][2]string {
	var out [][2]string
	add := func(k, v string) {
		if v != "" {
			out = append(out, [2]string{k, v})
		}
	}
	add("route", d.Route)
	add("backend", d.Backend)
	add("server", d.Server)
	add("address", d.Address)
	add("error", d.Error)
	add("attempts", strconv.Itoa(d.Attempts))
	add("servers", d.Servers)
	return out
}

func (p *errorPage) json() string {
	b, _ := json.Marshal(p)
	return string(b) + "\n"
}

// pageStyle keeps the page readable without any external resource.
const pageStyle = `body{font:16px/1.5 system-ui,sans-serif;max-width:42em;margin:3em auto;padding:0 1em;color:#222;background:#fff}` +
	`h1{font-size:1.4em;margin:0 0 .5em}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}` +
	`dt{color:#666}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}` +
	`footer{margin-top:2em;color:#666;font-size:.9em}`

func (p *errorPage) html() string {
	var b strings.Builder
	title := html.EscapeString(strconv.Itoa(p.Status) + " " + p.Error)
	b.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8">` +
		`<meta name="viewport" content="width=device-width,initial-scale=1"><title>` + title +
		`</title><style>` + pageStyle + `</style></head><body><h1>` + title + `</h1><p>` +
		html.EscapeString(p.Message) + `</p><dl>`)
	row := func(k, v string) {
		if v != "" {
			b.WriteString(`<dt>` + html.EscapeString(k) + `</dt><dd>` + html.EscapeString(v) + `</dd>`)
		}
	}
	row("reason", p.Reason)
	row("request id", p.RequestID)
	row("trace id", p.TraceID)
	if d := p.Detail; d != nil {
		for _, kv := range d.pairs() {
			row(kv[0], kv[1])
		}
	}
	b.WriteString(`</dl><footer>Quote the request id when you report this problem.</footer></body></html>` + "\n")
	return b.String()
}

// pageCSP forbids every resource to an error page but its inline style.
var pageCSP = []string{"default-src 'none'; style-src 'unsafe-inline'"}
