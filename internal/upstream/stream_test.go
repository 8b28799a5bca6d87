package upstream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/pires/go-proxyproto"
)

// TestDialStream dials a real loopback server for a stream and reads what
// arrives first: nothing but the stream's bytes without the PROXY
// protocol, the header naming the stream's client, listener and (v2) SNI
// with it.
func TestDialStream(t *testing.T) {
	client := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 40000}
	listener := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}
	tests := []struct {
		name    string
		pp      string
		sni     string
		want    string // the header's source, destination and authority
		wantRaw bool   // no header at all
	}{
		{name: "none", pp: "none", wantRaw: true},
		{name: "v1", pp: "v1", sni: "a.test", want: "127.0.0.2:40000 127.0.0.1:8443 "},
		{name: "v2 without sni", pp: "v2", want: "127.0.0.2:40000 127.0.0.1:8443 "},
		{name: "v2 with sni", pp: "v2", sni: "a.test", want: "127.0.0.2:40000 127.0.0.1:8443 a.test"},
		{name: "v2 with an overlong sni", pp: "v2", sni: strings.Repeat("a", 300), want: "127.0.0.2:40000 127.0.0.1:8443 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan string, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- err.Error()
					return
				}
				defer c.Close()
				br := bufio.NewReader(c)
				if tt.wantRaw {
					line, _ := br.ReadString('\n')
					got <- line
					return
				}
				h, err := proxyproto.Read(br)
				if err != nil {
					got <- err.Error()
					return
				}
				authority, _ := h.TLVs()
				sni := ""
				for _, tlv := range authority {
					if tlv.Type == proxyproto.PP2_TYPE_AUTHORITY {
						sni = string(tlv.Value)
					}
				}
				rest, _ := br.ReadString('\n')
				got <- h.SourceAddr.String() + " " + h.DestinationAddr.String() + " " + sni + "|" + rest
			}()
			pv, err := ParseProxyVersion(tt.pp)
			if err != nil {
				t.Fatal(err)
			}
			s := NewServer("b", "s", ln.Addr().String(), 100, Up)
			s.Transport = NewTransport(TransportOptions{Address: s.Address, SendProxy: pv})
			conn, err := s.DialStream(context.Background(), StreamOptions{Client: client, Listener: listener, SNI: tt.sni})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, "hello\n")
			want := tt.want + "|hello\n"
			if tt.wantRaw {
				want = "hello\n"
			}
			if g := <-got; g != want {
				t.Errorf("the server read %q, want %q", g, want)
			}
		})
	}
}

func TestDialStreamRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := NewServer("b", "s", addr, 100, Up)
	s.Transport = NewTransport(TransportOptions{Address: addr, SendProxy: ProxyV2})
	_, err = s.DialStream(context.Background(), StreamOptions{})
	de, ok := errors.AsType[*DialError](err)
	if !ok || de.Reason != ReasonConnectRefused {
		t.Fatalf("DialStream to a closed port: %v, want a connect_refused DialError", err)
	}
}
