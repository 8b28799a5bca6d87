package proxy

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/portier/portier/internal/upstream"
)

// BenchmarkTCPRelay measures a stream through the relay on loopback:
// "bulk" one way in 32KiB writes (bytes per second), "pingpong" a 64-byte
// request answered by a 64-byte reply (round trips per second). The
// baselines are the same traffic without a proxy and through a bare
// io.Copy relay, which Linux splices, to show what the relay's idle
// timeout and accounting cost. Run with -benchmem: a stream allocates
// only when it starts.
func BenchmarkTCPRelay(b *testing.B) {
	relays := []struct {
		name  string
		front func(b *testing.B, server string) string
	}{
		{name: "portier", front: func(b *testing.B, server string) string {
			return startRelay(b, plainSite(tcpBackend(b, upstream.ProxyNone, server), time.Minute), "").addr
		}},
		{name: "baseline-direct", front: func(_ *testing.B, server string) string { return server }},
		{name: "baseline-iocopy", front: spliceRelay},
	}
	for _, r := range relays {
		b.Run("bulk/"+r.name, func(b *testing.B) {
			got := make(chan int64, 1)
			c := dialBench(b, r.front(b, tcpServer(b, func(c net.Conn) {
				n, _ := io.Copy(io.Discard, c)
				got <- n
			})))
			chunk := make([]byte, 32<<10)
			b.SetBytes(int64(len(chunk)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			c.CloseWrite()
			if n := <-got; n != int64(b.N)*int64(len(chunk)) {
				b.Fatalf("the server read %d bytes, want %d", n, b.N*len(chunk))
			}
		})
		b.Run("pingpong/"+r.name, func(b *testing.B) {
			c := dialBench(b, r.front(b, tcpServer(b, func(c net.Conn) { io.Copy(c, c) })))
			msg, reply := make([]byte, 64), make([]byte, 64)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, reply); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func dialBench(b *testing.B, addr string) *net.TCPConn {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// spliceRelay is the simplest relay Go allows: io.Copy both ways between
// two *net.TCPConn, which the runtime turns into splice(2), with no idle
// timeout, accounting or half-close handling.
func spliceRelay(b *testing.B, server string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s, err := net.Dial("tcp", server)
		if err != nil {
			return
		}
		defer s.Close()
		wg.Go(func() {
			io.Copy(s, c)
			s.(*net.TCPConn).CloseWrite()
		})
		io.Copy(c, s)
	})
	return ln.Addr().String()
}
