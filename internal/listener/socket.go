package listener

import (
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"

	"github.com/portier/portier/internal/config"
)

// socket is the part of a listener's life that HTTP and tcp listeners
// share: its socket is bound by Listen (or inherited), copied for a
// successor by Dup, and taken out of listening by Unbind; its connections
// are read through the PROXY protocol when the listener accepts it. Both
// Listener and TCP embed one.
type socket struct {
	name      string
	address   string
	inherited net.Listener
	// proxy is the PROXY protocol accepted, nil if none; proxyCounts
	// counts the connections its headers closed.
	proxy       *ProxyAccept
	proxyCounts *ProxyCounts

	// mu guards ln and closed, and the fields of the embedding listener
	// that say so.
	mu     sync.Mutex
	ln     net.Listener // the bound socket, set by Listen
	closed bool         // the listener stopped for good (see its Shutdown)
}

// newSocket returns the socket of listener c, not bound yet: inherited
// when that is set. counts counts the connections refused for their
// PROXY header when c accepts the PROXY protocol; nil: its own counts.
func newSocket(c config.Listener, inherited net.Listener, counts *ProxyCounts) socket {
	proxy, counts := proxyAccept(c.ProxyProtocol, counts)
	return socket{name: c.Name, address: c.Address, inherited: inherited, proxy: proxy, proxyCounts: counts}
}

// proxyAccept returns the PROXY protocol that pp accepts and the counts of
// the connections its headers close (counts, or new ones when nil); nil
// and nil when it accepts none.
func proxyAccept(pp *config.ProxyProtocol, counts *ProxyCounts) (*ProxyAccept, *ProxyCounts) {
	if pp == nil || !pp.Accept {
		return nil, nil
	}
	a := &ProxyAccept{Required: pp.Required, Timeout: pp.Timeout.D()}
	for _, p := range pp.Trusted {
		a.Trusted = append(a.Trusted, p.Prefix)
	}
	if counts == nil {
		counts = new(ProxyCounts)
	}
	return a, counts
}

// listen binds the address, or takes the inherited socket; once the
// listener is closed it fails with closedErr.
func (s *socket) listen(closedErr error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ln != nil:
		return nil
	case s.closed:
		return fmt.Errorf("listener %s: %w", s.name, closedErr)
	case s.inherited != nil:
		s.ln = s.inherited
		return nil
	}
	ln, err := net.Listen("tcp", s.address)
	if err != nil {
		return fmt.Errorf("listener %s: %w", s.name, err)
	}
	s.ln = ln
	return nil
}

// accepting returns ln as the listener accepts on it: through the PROXY
// protocol when the listener accepts that. It wraps at Serve, not in
// Listen, because Dup and Unbind need the socket itself; each header is
// read on its connection's own goroutine, not by the accept loop.
func (s *socket) accepting(ln net.Listener) net.Listener {
	if s.proxy == nil {
		return ln
	}
	return WrapProxy(ln, *s.proxy, s.proxyCounts)
}

// Addr returns the bound address, or nil before Listen.
func (s *socket) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Name returns the listener's configured name.
func (s *socket) Name() string { return s.name }

// ProxyCounts returns the counts of connections closed for their PROXY
// header, or nil when the listener does not accept the PROXY protocol.
func (s *socket) ProxyCounts() *ProxyCounts { return s.proxyCounts }

// Dup returns a second listener on the same bound socket, for a listener
// that replaces this one without closing the socket: while both accept,
// the kernel gives each connection to one of them, and once this one shuts
// down the other takes every connection. No connection is refused.
func (s *socket) Dup() (net.Listener, error) {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	f, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("listener %s: socket cannot be shared", s.name)
	}
	file, err := f.File()
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", s.name, err)
	}
	defer file.Close()
	dup, err := net.FileListener(file)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", s.name, err)
	}
	return dup, nil
}

// Unbind takes the socket out of the listening state in every process
// that holds it, for a listener that goes away for good: a copy of the
// socket kept for a binary upgrade would otherwise leave it listening,
// and connections would queue where nobody accepts them. Call it before
// Shutdown; Retire has its own flag for it.
func (s *socket) Unbind() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil && !s.closed {
		stopListening(s.ln)
	}
}

// CloseSocket takes ln out of the listening state in every process that
// holds it, then closes it: for a socket that was bound but will never
// serve.
func CloseSocket(ln net.Listener) error {
	stopListening(ln)
	return ln.Close()
}

// stopListening shuts the listening socket down for reading, which on
// Linux takes it out of the listening state for every descriptor of it.
func stopListening(ln net.Listener) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) { _ = syscall.Shutdown(int(fd), syscall.SHUT_RD) })
}
