package engine

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/upstream"
)

// dnsServer is a real DNS server on loopback that answers A queries for
// one name with an address that the test can change.
type dnsServer struct {
	addr    string
	name    string
	answer  atomic.Pointer[string]
	queries atomic.Int64
}

func newDNSServer(t *testing.T, name, ip string) *dnsServer {
	t.Helper()
	d := &dnsServer{name: dns.Fqdn(name)}
	d.answer.Store(&ip)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.addr = pc.LocalAddr().String()
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(d.serve)}
	go srv.ActivateAndServe()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return d
}

func (d *dnsServer) serve(w dns.ResponseWriter, q *dns.Msg) {
	d.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(q)
	question := q.Question[0]
	switch {
	case !strings.EqualFold(question.Name, d.name):
		m.Rcode = dns.RcodeNameError
	case question.Qtype == dns.TypeA:
		m.Answer = append(m.Answer, &dns.A{
			Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
			A:   net.ParseIP(*d.answer.Load()),
		})
	}
	_ = w.WriteMsg(m)
}

// listenBoth serves name on ip1:port and ip2:port, the same port.
func listenBoth(t *testing.T, ip1, ip2 string) (port int, served map[string]*atomic.Int64) {
	t.Helper()
	served = map[string]*atomic.Int64{}
	for attempt := 0; attempt < 20; attempt++ {
		ln1, err := net.Listen("tcp", ip1+":0")
		if err != nil {
			t.Skipf("cannot listen on %s: %v", ip1, err)
		}
		port = ln1.Addr().(*net.TCPAddr).Port
		ln2, err := net.Listen("tcp", net.JoinHostPort(ip2, strconv.Itoa(port)))
		if err != nil {
			ln1.Close()
			continue
		}
		for ip, ln := range map[string]net.Listener{ip1: ln1, ip2: ln2} {
			n := new(atomic.Int64)
			served[ip] = n
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				io.WriteString(w, ip)
			})}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })
		}
		return port, served
	}
	t.Fatal("no port free on both addresses")
	return 0, nil
}

// TestTrafficFollowsDNS: a server named by host name is re-resolved every
// resolve_interval through the configured resolver; when the name moves,
// traffic follows without a reload. A name that does not resolve at start
// does not stop Portier from starting: that server is down, with the DNS
// error as its reason.
func TestTrafficFollowsDNS(t *testing.T) {
	port, served := listenBoth(t, "127.0.0.2", "127.0.0.3")
	ns := newDNSServer(t, "app.portier.test", "127.0.0.2")
	p := strconv.Itoa(port)

	cfg := config.New()
	cfg.Admin.Address = config.AdminOff
	cfg.Log.Access = "off"
	cfg.Resolvers = []string{ns.addr}
	cfg.Listeners = []config.Listener{config.NewListener("web", "127.0.0.1:0")}
	b := config.NewBackend("app",
		config.NewServer("named", "app.portier.test:"+p),
		config.NewServer("missing", "missing.portier.test:"+p))
	b.ResolveInterval = config.Duration(100 * time.Millisecond)
	cfg.Backends = []config.Backend{b}
	cfg.Routes = []config.Route{config.NewRoute("all", "app")}
	e, base := startEngine(t, cfg)

	missing := server(e, "missing")
	if h := missing.Health(); h.State != upstream.Down || !strings.HasPrefix(h.Reason, "dns: ") {
		t.Fatalf("a name that does not resolve: %s %q, want down with a dns reason", h.State, h.Reason)
	}
	for range 10 {
		if code, reason := mustGet(t, base+"/"); code != 200 {
			t.Fatalf("request failed: %d %s", code, reason)
		}
	}
	if served["127.0.0.2"].Load() != 10 {
		t.Fatalf("requests before the move: %d at 127.0.0.2, %d at 127.0.0.3",
			served["127.0.0.2"].Load(), served["127.0.0.3"].Load())
	}

	moved := "127.0.0.3"
	ns.answer.Store(&moved)
	deadline := time.Now().Add(3 * time.Second)
	for served["127.0.0.3"].Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("traffic did not follow the new address within 3s (%d DNS queries)", ns.queries.Load())
		}
		if code, reason := mustGet(t, base+"/"); code != 200 {
			t.Fatalf("request failed during the move: %d %s", code, reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := served["127.0.0.2"].Load()
	for range 10 {
		mustGet(t, base+"/")
	}
	if served["127.0.0.2"].Load() != before {
		t.Fatal("requests still reach the old address after the move")
	}
}
