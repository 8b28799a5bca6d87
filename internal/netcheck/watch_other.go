//go:build !linux

package netcheck

import (
	"context"
	"runtime"
)

// Start says once that routes cannot be checked here; there is nothing to
// watch.
func (w *Watch) Start(ctx context.Context) {
	w.log.Info("network check: cannot check routes on " + runtime.GOOS)
}
