//go:build !linux

package netcheck

import "context"

// Check returns ErrUnsupported: routes are read over netlink, which only
// Linux has.
func (c Checker) Check(ctx context.Context, s Scope) (Report, error) {
	return Report{}, ErrUnsupported
}

func (c Checker) check(ctx context.Context, s Scope, conns bool) (Report, error) {
	return Report{}, ErrUnsupported
}
