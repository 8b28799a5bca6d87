package proxy

import (
	"sync"
	"time"
)

// FailureRecord is one request that Portier answered with an error of its
// own, 500 or above, or whose response a server broke off.
type FailureRecord struct {
	Time      time.Time
	RequestID string
	TraceID   string
	Listener  string
	Route     string
	Backend   string
	// Server is the last server tried; "" when none could be.
	Server string
	Reason string
	// Status is what the client got (200 for a response broken off).
	Status int
	// Err is the last failed attempt's error; it may name addresses.
	Err string
	// Attempts is how many servers were tried.
	Attempts int
	// ConsecutiveFailures is the server's count of failed attempts in a
	// row, this one included.
	ConsecutiveFailures int
}

// FailureLog keeps the latest failures, a bounded ring for the admin API.
// Only failed requests take its lock.
type FailureLog struct {
	mu   sync.Mutex // guards ring, next and full
	ring []FailureRecord
	next int
	full bool
}

// DefaultFailureLogSize is how many failures a FailureLog keeps unless told.
const DefaultFailureLogSize = 256

// NewFailureLog returns a log that keeps the last size failures (size ≤ 0:
// DefaultFailureLogSize).
func NewFailureLog(size int) *FailureLog {
	if size <= 0 {
		size = DefaultFailureLogSize
	}
	return &FailureLog{ring: make([]FailureRecord, size)}
}

// Add records a failure. It does nothing on a nil log.
func (l *FailureLog) Add(f FailureRecord) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.ring[l.next] = f
	l.next++
	if l.next == len(l.ring) {
		l.next, l.full = 0, true
	}
	l.mu.Unlock()
}

// Recent returns up to limit failures, newest first (limit ≤ 0: all kept).
func (l *FailureLog) Recent(limit int) []FailureRecord {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.next
	if l.full {
		n = len(l.ring)
	}
	if limit <= 0 || limit > n {
		limit = n
	}
	out := make([]FailureRecord, 0, limit)
	for i := 1; i <= limit; i++ {
		out = append(out, l.ring[(l.next-i+len(l.ring))%len(l.ring)])
	}
	return out
}
