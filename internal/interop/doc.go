// Package interop holds tests only: they run the real portier binary between
// real programs the way an operator would, with curl as the client, nginx as
// the origin server and HAProxy as a proxy in front of Portier. The programs
// come from Debian's packages (scripts/install-test-deps.sh installs them);
// without them the tests skip, unless CI is set, in which case they fail.
//
// The tests build ./cmd/portier once in TestMain and talk to it over loopback
// only. Nothing may import this package, and it imports nothing of Portier's
// but the test certificates of internal/testpki: it sees the product only
// from outside.
package interop
