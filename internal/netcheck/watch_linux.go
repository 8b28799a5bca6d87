//go:build linux

package netcheck

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Start subscribes to route, address, link and neighbour events, checks
// the network once, logging what it finds (a failure is logged, never
// fatal), then watches until ctx ends. Events from the moment Start
// returns are seen.
func (w *Watch) Start(ctx context.Context) {
	sub, err := w.subscribe()
	w.Evaluate(ctx, true)
	go w.run(ctx, sub, err)
}

// run evaluates after each burst of events, and every Resync. A closed
// subscription (ENOBUFS when events overflow the socket) is renewed, and
// followed by an evaluation since events were lost.
func (w *Watch) run(ctx context.Context, sub *subscription, err error) {
	backoff := 5 * time.Second
	for ctx.Err() == nil {
		if err != nil {
			// Said once; retried quietly, less and less often.
			level := slog.LevelWarn
			if backoff > 5*time.Second {
				level = slog.LevelDebug
			}
			w.log.Log(ctx, level, "route watch: cannot subscribe to route changes; retrying", "error", err.Error(), "in", backoff.String())
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Minute)
			sub, err = w.subscribe()
			continue
		}
		backoff = 5 * time.Second
		w.loop(ctx, sub.kick, sub.lost)
		sub.stop()
		if ctx.Err() != nil {
			return
		}
		w.log.Info("route watch: netlink subscription lost; subscribing again")
		sub, err = w.subscribe()
		w.Evaluate(ctx, false)
	}
}

// loop evaluates after each burst of events until ctx ends or the
// subscription is lost.
func (w *Watch) loop(ctx context.Context, kick, lost <-chan struct{}) {
	resync := time.NewTicker(w.o.Resync)
	defer resync.Stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var first time.Time
	pending := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-lost:
			return
		case <-kick:
			now := time.Now()
			if !pending {
				first, pending = now, true
			}
			timer.Reset(debounceDelay(first, now, w.o.Debounce, w.o.MaxDelay))
		case <-timer.C:
			pending = false
			w.Evaluate(ctx, false)
		case <-resync.C:
			w.Evaluate(ctx, true)
		}
	}
}

// subscription is the four netlink subscriptions of a watch.
type subscription struct {
	// kick receives (coalesced) when any event arrives.
	kick <-chan struct{}
	// lost closes when a subscription ends.
	lost <-chan struct{}
	// stop ends the subscriptions.
	stop func()
}

// subscribe opens the subscriptions.
func (w *Watch) subscribe() (sub *subscription, err error) {
	ns := netns.None()
	if w.o.NetNS != "" {
		if ns, err = netns.GetFromPath(w.o.NetNS); err != nil {
			return nil, fmt.Errorf("netcheck: network namespace %s: %w", w.o.NetNS, err)
		}
		defer ns.Close() // the subscriptions hold their own sockets
	}
	var nsp *netns.NsHandle
	if ns.IsOpen() {
		nsp = &ns
	}
	done := make(chan struct{})
	k := make(chan struct{}, 1)
	l := make(chan struct{})
	var once sync.Once
	ended := func() { once.Do(func() { close(l) }) }
	// A large receive buffer makes ENOBUFS rare under neighbour floods.
	const rcvbuf = 1 << 20
	routes := make(chan netlink.RouteUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	links := make(chan netlink.LinkUpdate, 64)
	neigh := make(chan netlink.NeighUpdate, 64)
	subs := []func() error{
		func() error {
			err := netlink.RouteSubscribeWithOptions(routes, done, netlink.RouteSubscribeOptions{Namespace: nsp, ErrorCallback: ignore, ReceiveBufferSize: rcvbuf})
			if err == nil {
				go drain(routes, k, ended)
			}
			return err
		},
		func() error {
			err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{Namespace: nsp, ErrorCallback: ignore, ReceiveBufferSize: rcvbuf})
			if err == nil {
				go drain(addrs, k, ended)
			}
			return err
		},
		func() error {
			err := netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{Namespace: nsp, ErrorCallback: ignore, ReceiveBufferSize: rcvbuf})
			if err == nil {
				go drain(links, k, ended)
			}
			return err
		},
		func() error {
			err := netlink.NeighSubscribeWithOptions(neigh, done, netlink.NeighSubscribeOptions{Namespace: nsp, ErrorCallback: ignore, ReceiveBufferSize: rcvbuf})
			if err == nil {
				go drain(neigh, k, ended)
			}
			return err
		},
	}
	for _, sub := range subs {
		if err := sub(); err != nil {
			close(done)
			return nil, fmt.Errorf("netcheck: subscribe: %w", err)
		}
	}
	return &subscription{kick: k, lost: l, stop: func() { close(done) }}, nil
}

// drain turns every update of ch into a coalesced kick until ch closes
// (the subscription ended), then calls ended. It keeps reading after stop,
// so that the library's receiver never blocks on a send.
func drain[T any](ch <-chan T, kick chan<- struct{}, ended func()) {
	for range ch {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	ended()
}

// ignore drops subscription errors: a receive error also closes the
// channel, which renews the subscription; other errors concern one
// message, and the evaluation reads fresh tables anyway.
func ignore(error) {}
