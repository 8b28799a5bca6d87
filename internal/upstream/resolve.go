package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// ErrUnresolved is returned when a server's name has not resolved yet.
var ErrUnresolved = errors.New("name not resolved yet")

// dialTarget is where connections to a server go now.
type dialTarget struct {
	addr string // ip:port, empty until the name first resolved
	err  error  // the last resolution error, if addr is empty
}

// needsResolving reports whether address names a host rather than an IP.
func needsResolving(address string) bool {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	_, err = netip.ParseAddr(host)
	return err != nil
}

// DialAddress returns the ip:port connections to the server go to: the
// configured address when it is an IP, else what its name last resolved
// to. It fails with a "dns" DialError while the name has never resolved.
func (s *Server) DialAddress() (string, error) {
	t := s.target.Load()
	if t == nil {
		return s.Address, nil
	}
	if t.addr == "" {
		return "", &DialError{Reason: ReasonDNS, Err: t.err}
	}
	return t.addr, nil
}

// ResolverOptions configure a Resolver.
type ResolverOptions struct {
	// Servers whose addresses name hosts; others are ignored.
	Servers []*Server
	// Interval between resolutions. Default 30s.
	Interval time.Duration
	// Resolver looks names up. Default net.DefaultResolver.
	Resolver *net.Resolver
	// OwnsHealth says the resolver may mark a server Down while its name
	// does not resolve, and Up once it does: true for servers without an
	// active health check (a check reports DNS failures itself).
	OwnsHealth func(*Server) bool
	// OnChange is called after a server's address or state changed.
	OnChange func()
	Logger   *slog.Logger
}

// Resolver re-resolves server names on an interval, so that traffic follows
// an address change without a reload and a name that does not resolve at
// start does not stop Portier from starting.
type Resolver struct {
	o      ResolverOptions
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// StartResolver resolves every named server once, without failing on
// errors, then keeps them fresh until Stop.
func StartResolver(o ResolverOptions) *Resolver {
	if o.Interval <= 0 {
		o.Interval = 30 * time.Second
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Resolver{o: o}
	var named []*Server
	for _, s := range o.Servers {
		if needsResolving(s.Address) {
			s.target.CompareAndSwap(nil, &dialTarget{err: ErrUnresolved})
			named = append(named, s)
		}
	}
	r.o.Servers = named
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	if len(named) == 0 {
		return r
	}
	r.resolveAll(ctx)
	r.done.Add(1)
	go r.loop(ctx)
	return r
}

// Stop ends the re-resolution.
func (r *Resolver) Stop() {
	r.cancel()
	r.done.Wait()
}

func (r *Resolver) loop(ctx context.Context) {
	defer r.done.Done()
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.resolveAll(ctx)
		}
	}
}

// resolveAll resolves every server at once, each bounded in time.
func (r *Resolver) resolveAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range r.o.Servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.resolve(ctx, s)
		}()
	}
	wg.Wait()
}

func (r *Resolver) resolve(parent context.Context, s *Server) {
	host, port, _ := net.SplitHostPort(s.Address)
	ctx, cancel := context.WithTimeout(parent, 5*time.Second)
	defer cancel()
	ips, err := r.o.Resolver.LookupNetIP(ctx, "ip", host)
	if parent.Err() != nil {
		return // stopped: a cancelled lookup says nothing about the name
	}
	old := s.target.Load()
	owns := r.o.OwnsHealth != nil && r.o.OwnsHealth(s)
	if err != nil || len(ips) == 0 {
		if err == nil {
			err = fmt.Errorf("%s has no address", host)
		}
		if old.addr != "" {
			// Keep serving the last good address through a DNS outage.
			r.o.Logger.Warn("dns: keeping the last address", "backend", s.Backend, "server", s.Name, "address", old.addr, "error", err.Error())
			return
		}
		s.target.Store(&dialTarget{err: err})
		if owns && s.SetHealth(Down, "dns: "+err.Error(), time.Now()) {
			r.changed()
		}
		return
	}
	addr := net.JoinHostPort(ips[0].Unmap().String(), port)
	if addr == old.addr {
		return
	}
	s.target.Store(&dialTarget{addr: addr})
	if old.addr != "" {
		r.o.Logger.Info("dns: server address changed", "backend", s.Backend, "server", s.Name, "from", old.addr, "to", addr)
		// Pooled connections still reach the old address.
		if t, ok := s.Transport.(interface{ CloseIdleConnections() }); ok {
			t.CloseIdleConnections()
		}
	}
	if owns && s.State() == Down {
		s.SetHealth(Up, "resolved to "+addr, time.Now())
	}
	r.changed()
}

func (r *Resolver) changed() {
	if r.o.OnChange != nil {
		r.o.OnChange()
	}
}
