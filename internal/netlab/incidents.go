//go:build linux

package netlab

import "strings"

// ProxyVM is the topology of seeds/000 (Open Food Facts, 2022-02-18): a
// proxy with a NAT-side interface (nat0, gateway in NAT) and a public one
// (pub0, gateway in Router), and a client on the Internet side that only
// the public side leads to. Both IPv4 and IPv6 are configured; no default
// route is set: the states below set them.
type ProxyVM struct {
	Proxy, NAT, Router, Client *NS
}

// Addresses of the ProxyVM topology (documentation ranges).
const (
	NATAddr     = "10.1.0.101"
	NATGateway  = "10.1.0.1"
	PubAddr     = "198.51.100.10"
	PubGateway  = "198.51.100.1"
	ClientAddr  = "203.0.113.7"
	ClientNet   = "203.0.113.0/24"
	NATAddr6    = "fd00:a::101"
	NATGateway6 = "fd00:a::1"
	PubAddr6    = "2001:db8:b::10"
	PubNet6     = "2001:db8:b::/64"
	PubGateway6 = "2001:db8:b::1"
	ClientAddr6 = "2001:db8:c::7"
	ClientNet6  = "2001:db8:c::/64"
)

// NewProxyVM builds the topology without default routes on the proxy.
func (l *Lab) NewProxyVM() *ProxyVM {
	l.t.Helper()
	v := &ProxyVM{Proxy: l.NS("proxy"), NAT: l.NS("nat"), Router: l.NS("router"), Client: l.NS("client")}
	l.Veth(v.Proxy, "nat0", v.NAT, "n0")
	l.Veth(v.Proxy, "pub0", v.Router, "p0")
	l.Veth(v.Router, "c0", v.Client, "c1")
	for _, a := range [][3]any{
		{v.Proxy, "nat0", []string{NATAddr + "/24", NATAddr6 + "/64"}},
		{v.Proxy, "pub0", []string{PubAddr + "/24", PubAddr6 + "/64"}},
		{v.NAT, "n0", []string{NATGateway + "/24", NATGateway6 + "/64"}},
		{v.Router, "p0", []string{PubGateway + "/24", PubGateway6 + "/64"}},
		{v.Router, "c0", []string{"203.0.113.1/24", "2001:db8:c::1/64"}},
		{v.Client, "c1", []string{ClientAddr + "/24", ClientAddr6 + "/64"}},
	} {
		ns, dev := a[0].(*NS), a[1].(string)
		for _, cidr := range a[2].([]string) {
			ns.IP("addr", "add", cidr, "dev", dev, "nodad")
		}
	}
	v.Router.Sysctl("net.ipv4.ip_forward=1")
	v.Router.Sysctl("net.ipv6.conf.all.forwarding=1")
	v.Client.IP("route", "add", "default", "via", "203.0.113.1")
	v.Client.IP("-6", "route", "add", "default", "via", "2001:db8:c::1")
	return v
}

// Bad is the outage: the only default route leads out by the NAT side, so
// replies to the client never arrive.
func (v *ProxyVM) Bad() {
	v.Proxy.IP("route", "add", "default", "via", NATGateway, "dev", "nat0")
	v.Proxy.IP("-6", "route", "add", "default", "via", NATGateway6, "dev", "nat0")
}

// Race is the state after the reboot race: both sides installed a default
// route with the same metric, the NAT side's first.
func (v *ProxyVM) Race() {
	v.Bad()
	v.Proxy.IP("route", "append", "default", "via", PubGateway, "dev", "pub0")
}

// Fixed is the final resolution: one default route, by the public side.
func (v *ProxyVM) Fixed() {
	v.Proxy.IP("route", "add", "default", "via", PubGateway, "dev", "pub0")
	v.Proxy.IP("-6", "route", "add", "default", "via", PubGateway6, "dev", "pub0")
}

// SourceRule keeps the NAT-side default but routes replies from the public
// address by a policy rule, and IPv6 replies by a source-specific route.
func (v *ProxyVM) SourceRule() {
	v.Bad()
	v.Proxy.IP("rule", "add", "from", PubAddr, "lookup", "100")
	v.Proxy.IP("route", "add", "default", "via", PubGateway, "dev", "pub0", "table", "100")
	v.Proxy.IP("-6", "route", "add", "default", "from", PubNet6, "via", PubGateway6, "dev", "pub0")
}

// Marked keeps the NAT-side default; the firewall marks connections that
// came in by pub0 and a fwmark rule sends their packets back by pub0.
func (v *ProxyVM) Marked() {
	v.Proxy.t.Helper()
	v.Bad()
	cmd := v.Proxy.Command("nft", "-f", "/dev/stdin")
	cmd.Stdin = strings.NewReader(`table inet portier_test {
  chain pre { type filter hook prerouting priority mangle; iifname "pub0" ct state new ct mark set 1; }
  chain out { type route hook output priority mangle; ct mark 1 meta mark set ct mark; }
}`)
	if out, err := cmd.CombinedOutput(); err != nil {
		v.Proxy.t.Skipf("netlab: nft cannot mark connections here: %v: %s", err, out)
	}
	v.Proxy.IP("rule", "add", "fwmark", "1", "lookup", "100")
	v.Proxy.IP("route", "add", "default", "via", PubGateway, "dev", "pub0", "table", "100")
	v.Proxy.IP("-6", "rule", "add", "fwmark", "1", "lookup", "100")
	v.Proxy.IP("-6", "route", "add", "default", "via", PubGateway6, "dev", "pub0", "table", "100")
}

// DockerApp is the topology of seeds/004: a container (App) attached to
// one network (eth0), whose gateway (Gateway) routes to a client on the
// Internet side. AttachSecond connects a second network, whose gateway
// does not lead to the client, and moves the default route to it, as
// `docker network connect` did for a network whose name sorts first.
type DockerApp struct {
	lab                          *Lab
	App, Gateway, Second, Client *NS
}

// Addresses of the DockerApp topology.
const (
	AppAddr     = "172.24.34.5"
	AppGateway  = "172.24.34.1"
	App2Addr    = "172.24.35.5"
	App2Gateway = "172.24.35.1"
)

// NewDockerApp builds the topology with its first network only.
func (l *Lab) NewDockerApp() *DockerApp {
	l.t.Helper()
	d := &DockerApp{lab: l, App: l.NS("app"), Gateway: l.NS("gw"), Second: l.NS("gw2"), Client: l.NS("client")}
	l.Veth(d.App, "eth0", d.Gateway, "g0")
	l.Veth(d.Gateway, "c0", d.Client, "c1")
	d.App.IP("addr", "add", AppAddr+"/24", "dev", "eth0")
	d.Gateway.IP("addr", "add", AppGateway+"/24", "dev", "g0")
	d.Gateway.IP("addr", "add", "203.0.113.1/24", "dev", "c0")
	d.Client.IP("addr", "add", ClientAddr+"/24", "dev", "c1")
	d.Gateway.Sysctl("net.ipv4.ip_forward=1")
	d.Client.IP("route", "add", "default", "via", "203.0.113.1")
	d.App.IP("route", "add", "default", "via", AppGateway, "dev", "eth0")
	return d
}

// AttachSecond adds eth1 on the second network and makes its gateway the
// default route, in one route replacement.
func (d *DockerApp) AttachSecond() {
	d.lab.t.Helper()
	d.lab.Veth(d.App, "eth1", d.Second, "g1")
	d.App.IP("addr", "add", App2Addr+"/24", "dev", "eth1")
	d.Second.IP("addr", "add", App2Gateway+"/24", "dev", "g1")
	d.App.IP("route", "replace", "default", "via", App2Gateway, "dev", "eth1")
}
