package upstream

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// defaultProxyClients is TransportOptions.ProxyClients' default.
const defaultProxyClients = 1024

// proxyPool is the connection pool of a server sent the PROXY protocol.
//
// The header is the first thing on a connection and names one client, so a
// keep-alive connection must never carry another client's request: the
// server would credit it to the wrong address (HAProxy marks such
// connections private to their client for the same reason). The pool is
// therefore one http.Transport per client, keyed by everything the header
// says (source, destination and, for v2, SNI): a connection is reused only
// by requests its header is true of, which are in practice the requests of
// one client connection.
//
// At most ProxyClients clients' transports are kept; the least recently
// used is dropped and its idle connections closed. Its connections still
// serving a request are closed when that request ends (http.Transport
// closes connections that become idle after CloseIdleConnections). A
// client's own transport keeps up to MaxIdleConns idle connections for the
// IdleTimeout, like a server's single pool.
//
// Looking a client up takes the pool's mutex for a map read and a list
// move; only servers sent the PROXY protocol pay for it.
type proxyPool struct {
	o    TransportOptions // o.SendProxy is the version sent
	dial dialFunc

	mu sync.Mutex // guards byClient and recent
	// byClient indexes recent by client.
	byClient map[proxyClient]*clientTransport
	// recent is a circular list of the clients' transports through its
	// sentinel, the most recently used first.
	recent clientTransport
}

// clientTransport is one client's transport, an element of proxyPool.recent.
type clientTransport struct {
	client     proxyClient
	t          *http.Transport
	prev, next *clientTransport
}

func newProxyPool(o TransportOptions, dial dialFunc) *proxyPool {
	p := &proxyPool{o: o, dial: dial, byClient: make(map[proxyClient]*clientTransport)}
	p.recent.prev, p.recent.next = &p.recent, &p.recent
	return p
}

// RoundTrip sends r over a connection of r's client.
func (p *proxyPool) RoundTrip(r *http.Request) (*http.Response, error) {
	t, err := p.transport(clientOf(r, p.o.SendProxy))
	if err != nil {
		return nil, err
	}
	return t.RoundTrip(r)
}

// transport returns c's transport, making one if c has none.
func (p *proxyPool) transport(c proxyClient) (*http.Transport, error) {
	p.mu.Lock()
	if ct := p.byClient[c]; ct != nil {
		p.toFront(ct)
		p.mu.Unlock()
		return ct.t, nil
	}
	p.mu.Unlock()

	hdr, err := c.header(p.o.SendProxy)
	if err != nil {
		return nil, &DialError{Reason: ReasonConnectError, Err: err}
	}
	t := newHTTPTransport(p.o, p.dialWithHeader(hdr))

	p.mu.Lock()
	if ct := p.byClient[c]; ct != nil {
		// Another request of c made one meanwhile.
		p.toFront(ct)
		p.mu.Unlock()
		return ct.t, nil
	}
	ct := &clientTransport{client: c, t: t}
	p.byClient[c] = ct
	p.toFront(ct)
	var evicted *clientTransport
	if len(p.byClient) > p.o.ProxyClients {
		evicted = p.recent.prev
		p.unlink(evicted)
		delete(p.byClient, evicted.client)
	}
	p.mu.Unlock()
	if evicted != nil {
		evicted.t.CloseIdleConnections()
	}
	return t, nil
}

// toFront moves (or adds) ct to the front of recent; p.mu must be held.
func (p *proxyPool) toFront(ct *clientTransport) {
	if ct.prev != nil {
		p.unlink(ct)
	}
	ct.prev, ct.next = &p.recent, p.recent.next
	p.recent.next.prev = ct
	p.recent.next = ct
}

// unlink removes ct from recent; p.mu must be held.
func (p *proxyPool) unlink(ct *clientTransport) {
	ct.prev.next, ct.next.prev = ct.next, ct.prev
	ct.prev, ct.next = nil, nil
}

// dialWithHeader returns a dial that sends hdr first on each connection,
// before any TLS handshake: the server reads the header before anything
// else, as from HAProxy's send-proxy. A failure to send it is a *DialError:
// nothing of the request has gone out.
func (p *proxyPool) dialWithHeader(hdr []byte) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := p.dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := writeHeader(c, hdr, p.o.ConnectTimeout); err != nil {
			c.Close()
			return nil, &DialError{Reason: classifyDial(err), Err: err}
		}
		return c, nil
	}
}

// CloseIdleConnections closes the idle connections of every client.
func (p *proxyPool) CloseIdleConnections() {
	p.mu.Lock()
	ts := make([]*http.Transport, 0, len(p.byClient))
	for _, ct := range p.byClient {
		ts = append(ts, ct.t)
	}
	p.mu.Unlock()
	for _, t := range ts {
		t.CloseIdleConnections()
	}
}
