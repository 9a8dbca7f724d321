package labtest

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/labtest/nslab"
	"github.com/swarmscope/swarmscope/nat"
)

// redirectsFor lists miniupnpd's forwards of the host's port, whichever
// protocol made them.
func redirectsFor(t *testing.T, m *nslab.MiniUPnPd, port int) []nslab.UPnPMapping {
	t.Helper()
	all, err := m.Redirects()
	if err != nil {
		t.Fatalf("miniupnpd rules: %v", err)
	}
	want := netip.AddrPortFrom(m.Home.Host.IP(), uint16(port)).String()
	var out []nslab.UPnPMapping
	for _, r := range all {
		if r.Internal == want {
			out = append(out, r)
		}
	}
	return out
}

// checkMappedBy checks a report's mapping: made by proto, TCP and UDP, on
// the router's public address.
func checkMappedBy(t *testing.T, rep nat.Report, home *nslab.Home, protos ...string) {
	t.Helper()
	ok := false
	for _, p := range protos {
		ok = ok || rep.UPnP.Protocol == p
	}
	if !ok || !rep.UPnP.Found || len(rep.UPnP.Mappings) != 2 {
		t.Fatalf("mapping by %q (want one of %v), found %v, %d mappings, error %q, probes %+v", rep.UPnP.Protocol, protos, rep.UPnP.Found, len(rep.UPnP.Mappings), rep.UPnP.Error, rep.UPnP.Probes)
	}
	for _, m := range rep.UPnP.Mappings {
		if m.Protocol != rep.UPnP.Protocol {
			t.Errorf("mapping %+v does not carry the protocol %q", m, rep.UPnP.Protocol)
		}
	}
	if rep.UPnP.ExternalIP != home.Router.IP().String() {
		t.Errorf("external_ip %q, want %s", rep.UPnP.ExternalIP, home.Router.IP())
	}
	if rep.Reachable.Verdict != nat.VerdictUPnP || nat.Yes(rep.DoubleNAT) {
		t.Errorf("verdict %q double_nat %v (%s)", rep.Reachable.Verdict, rep.DoubleNAT, rep.Reachable.Advice)
	}
}

var natpmpcPublic = regexp.MustCompile(`Public IP address : ([0-9.]+)`)

// TestPortMapPCPAndNATPMP: on real miniupnpd (enable_natpmp=yes speaks
// NAT-PMP and PCP), `swarmscope nat --portmap pcp` and `--portmap nat-pmp`
// each map TCP and UDP, an outside host connects in through the mapping,
// the mapping is removed on exit and on SIGTERM, and natpmpc (the reference
// NAT-PMP client) sees the same external address.
func TestPortMapPCPAndNATPMP(t *testing.T) {
	needFeature(t, "-portmap", "port mapping with PCP and NAT-PMP (--portmap)")
	nslab.Require(t, "stund", "miniupnpd", "upnpc", "natpmpc")
	l := nslab.New(t)
	stund := l.PublicHost("stun", 2).StartStund()
	outside := l.PublicHost("outside", 1)
	silent := l.PublicHost("silent", 1)
	if err := silent.NFT(`table inet silent {
  chain incoming {
    type filter hook input priority 0; policy accept;
    udp dport 3478 drop
  }
}`); err != nil {
		t.Fatal(err)
	}
	home := l.Home("pmp", nslab.NATPortRestricted)
	d := home.StartMiniUPnPd()

	out := home.Host.MustRun("natpmpc", "-g", home.LANIP.String())
	ref := natpmpcPublic.FindStringSubmatch(out)
	if ref == nil || ref[1] != home.Router.IP().String() {
		t.Fatalf("natpmpc does not see the router's address %s:\n%s", home.Router.IP(), out)
	}

	for i, proto := range []string{"pcp", "nat-pmp"} {
		base := 7400 + 10*i
		// --keep-mapping: the mapping outlives the command and an
		// outside host connects through it.
		rep := runNatCLI(t, home.Host, "--stun", stund.Addr(), "--portmap", proto, "--port", strconv.Itoa(base), "--keep-mapping", "--timeout", "20s")
		checkMappedBy(t, rep, home, proto)
		if rep.UPnP.ExternalIP != ref[1] {
			t.Errorf("%s: external address %s, natpmpc says %s", proto, rep.UPnP.ExternalIP, ref[1])
		}
		ms := redirectsFor(t, d, base)
		if len(ms) != 2 {
			t.Fatalf("%s: miniupnpd holds %+v for port %d", proto, ms, base)
		}
		checkOutsideReaches(t, outside, home, ms)
		t.Logf("%s: mapped %+v; miniupnpd holds %+v", proto, rep.UPnP.Mappings, ms)

		// Without --keep-mapping it is gone when the command exits.
		rep = runNatCLI(t, home.Host, "--stun", stund.Addr(), "--portmap", proto, "--port", strconv.Itoa(base+1), "--timeout", "20s")
		checkMappedBy(t, rep, home, proto)
		if ms := redirectsFor(t, d, base+1); len(ms) != 0 {
			t.Errorf("%s: left on the gateway after exit: %+v", proto, ms)
		}

		// SIGTERM while the check waits for a silent STUN server.
		p := home.Host.StartWith(nslab.StartOptions{SeparateStdout: true}, binary, "nat", "--json", "--portmap", proto,
			"--stun", netip.AddrPortFrom(silent.IP(), 3478).String(), "--port", strconv.Itoa(base+2), "--timeout", "60s")
		err := nslab.WaitFor(30*time.Second, func() (bool, error) {
			if p.Exited() {
				return false, nslab.Stop(fmt.Errorf("swarmscope nat exited before mapping: %v\n%s", p.Err(), p.Output()))
			}
			return len(redirectsFor(t, d, base+2)) == 2, nil
		})
		if err != nil {
			t.Fatalf("%s: waiting for the mapping before SIGTERM: %v", proto, err)
		}
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(20 * time.Second); err != nil && !p.Exited() {
			t.Fatalf("%s: swarmscope nat did not exit after SIGTERM: %v", proto, err)
		}
		if ms := redirectsFor(t, d, base+2); len(ms) != 0 {
			t.Errorf("%s: left on the gateway after SIGTERM: %+v", proto, ms)
		}
	}
}

// TestPortMapProtocolsOffOn: with UPnP off on the router, the default
// `swarmscope nat` (all protocols at once) maps with PCP or NAT-PMP; with
// NAT-PMP/PCP off, with UPnP. Each time the others' probes fail and are
// reported.
func TestPortMapProtocolsOffOn(t *testing.T) {
	needFeature(t, "-portmap", "port mapping with PCP and NAT-PMP (--portmap)")
	nslab.Require(t, "stund", "miniupnpd")
	l := nslab.New(t)
	stund := l.PublicHost("stun", 2).StartStund()
	outside := l.PublicHost("outside", 1)
	for _, tc := range []struct {
		name string
		opts nslab.MiniUPnPdOptions
		want []string
	}{
		{"noupnp", nslab.MiniUPnPdOptions{NoUPnP: true}, []string{"pcp", "nat-pmp"}},
		{"nopmp", nslab.MiniUPnPdOptions{NoNATPMP: true}, []string{"upnp"}},
	} {
		home := l.Home(tc.name, nslab.NATPortRestricted)
		d := home.StartMiniUPnPdWith(tc.opts)
		const port = 7500
		rep := runNatCLI(t, home.Host, "--stun", stund.Addr(), "--port", strconv.Itoa(port), "--keep-mapping", "--timeout", "20s")
		checkMappedBy(t, rep, home, tc.want...)
		ms := redirectsFor(t, d, port)
		if len(ms) != 2 {
			raw, _ := d.Home.Router.Run("nft", "list", "table", "inet", nslab.UPnPTable)
			t.Fatalf("%s: miniupnpd holds %+v\n%s", tc.name, ms, raw)
		}
		checkOutsideReaches(t, outside, home, ms)
		failed := 0
		for _, pr := range rep.UPnP.Probes {
			if !pr.Found {
				failed++
			}
		}
		if len(rep.UPnP.Probes) != 3 || failed == 0 {
			t.Errorf("%s: probes %+v: want all three, the disabled ones failed", tc.name, rep.UPnP.Probes)
		}
		t.Logf("%s: %s mapped; probes %+v; took %.0f ms", tc.name, rep.UPnP.Protocol, rep.UPnP.Probes, rep.DurationMs)
	}
}
