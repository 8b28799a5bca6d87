package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
)

// switchProtocols completes a WebSocket upgrade (RFC 6455 §4): it relays the
// server's 101 to the hijacked client connection and then copies bytes both
// ways until either side closes. Any other 101 is refused: the proxy only
// asked for a WebSocket.
func (ex *exchange) switchProtocols(res *http.Response) {
	back, ok := res.Body.(io.ReadWriteCloser)
	if !ex.ws || !ok || !hasToken(res.Header[hdrUpgrade], "websocket") {
		res.Body.Close()
		ex.fail(http.StatusBadGateway, reasonBadUpgrade)
		return
	}
	defer back.Close()
	conn, brw, err := http.NewResponseController(ex.w).Hijack()
	if err != nil {
		ex.h.log.Warn("websocket hijack", "request_id", ex.id, "error", err)
		ex.fail(http.StatusInternalServerError, reasonBadUpgrade)
		return
	}
	defer conn.Close()
	ex.status = http.StatusSwitchingProtocols

	hdr := make(http.Header, len(res.Header)+3)
	copyEndToEnd(hdr, res.Header)
	hdr[hdrConnection] = ex.h.connUpgrade
	hdr[hdrUpgrade] = res.Header[hdrUpgrade]
	hdr[hdrRequestID] = ex.idv
	ex.addResponseHeaders(hdr, res)
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	hdr.Write(brw)
	brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		ex.reason = reasonClientClosed
		return
	}

	t := &tunnel{client: conn, server: back}
	ex.h.tunnel.add(t)
	defer ex.h.tunnel.remove(t)
	// A drain of the server closes the tunnel after its drain_timeout.
	defer ex.server.Track(t)()
	ex.bytesOut += t.run(ex.h, brw.Reader)
}

// tunnel is a WebSocket connection pair; closing it closes both sides.
type tunnel struct {
	client net.Conn
	server io.ReadWriteCloser
	once   sync.Once
}

func (t *tunnel) Close() error {
	t.once.Do(func() {
		t.client.Close()
		t.server.Close()
	})
	return nil
}

// run copies both ways until one direction ends, then closes both and
// waits for the other. fromClient holds bytes the client sent already
// buffered. It returns the bytes sent to the client.
func (t *tunnel) run(h *Handler, fromClient *bufio.Reader) int64 {
	done := make(chan struct{})
	go func() {
		defer close(done)
		bp := h.bufs.Get().(*[]byte)
		defer h.bufs.Put(bp)
		io.CopyBuffer(t.server, fromClient, *bp)
		t.Close()
	}()
	bp := h.bufs.Get().(*[]byte)
	defer h.bufs.Put(bp)
	n, _ := io.CopyBuffer(t.client, t.server, *bp)
	t.Close()
	<-done
	return n
}
