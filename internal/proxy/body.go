package proxy

import (
	"io"
	"sync/atomic"
)

// bodyReader wraps the client's request body to tell the client's errors
// from the server's, to count bytes in, and to keep the body open for a
// retry when a failed connect made the transport close it unread. The
// transport reads it on its own goroutine, hence the atomics.
type bodyReader struct {
	rc  io.ReadCloser
	n   atomic.Int64
	err atomic.Pointer[error] // first read error other than io.EOF
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	if err != nil && err != io.EOF {
		e := err // declared here so that only failed reads allocate
		b.err.CompareAndSwap(nil, &e)
	}
	return n, err
}

// Close closes the client's body only once some of it was read: an unread
// body may still go to another server.
func (b *bodyReader) Close() error {
	if b.n.Load() == 0 {
		return nil
	}
	return b.rc.Close()
}

// readErr returns the first error reading the client's body; b may be nil.
func (b *bodyReader) readErr() error {
	if b == nil {
		return nil
	}
	if e := b.err.Load(); e != nil {
		return *e
	}
	return nil
}

// bytesIn returns how many body bytes were read; b may be nil.
func (b *bodyReader) bytesIn() int64 {
	if b == nil {
		return 0
	}
	return b.n.Load()
}
