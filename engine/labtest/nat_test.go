package labtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/labtest/nslab"
	"github.com/swarmscope/swarmscope/nat"
)

// natHomes are the home networks every NAT test measures.
var natHomes = []struct {
	name string
	kind nslab.NATKind
}{
	{"prc", nslab.NATPortRestricted},
	{"sym", nslab.NATSymmetric},
	{"open", nslab.NATNone},
}

// publicIPOf is the address a STUN server sees for the home's host.
func publicIPOf(h *nslab.Home) netip.Addr {
	if h.Kind == nslab.NATNone {
		return h.Host.IP()
	}
	return h.Router.IP()
}

// compareWithStunClient checks a report against the reference classifier.
func compareWithStunClient(t *testing.T, home *nslab.Home, ref nslab.StunResult, rep nat.Report) {
	t.Helper()
	if string(rep.NATType) != ref.Type {
		t.Errorf("%s: swarmscope says %q (mapping %s, filtering %s), stun-client says %q (%s)",
			home.Name, rep.NATType, rep.Mapping, rep.Filtering, ref.Type, ref.Primary)
	}
	if ref.Mapping != "" && string(rep.Mapping) != ref.Mapping {
		t.Errorf("%s: mapping %q, stun-client implies %q", home.Name, rep.Mapping, ref.Mapping)
	}
	if ref.Filtering != "" && string(rep.Filtering) != ref.Filtering {
		t.Errorf("%s: filtering %q, stun-client implies %q", home.Name, rep.Filtering, ref.Filtering)
	}
	if ap, err := netip.ParseAddrPort(rep.PublicAddr); err != nil || ap.Addr() != publicIPOf(home) {
		t.Errorf("%s: public_addr %q, want IP %s", home.Name, rep.PublicAddr, publicIPOf(home))
	}
	if rep.BehindNAT == nil || *rep.BehindNAT != (home.Kind != nslab.NATNone) {
		t.Errorf("%s: behind_nat %v for a %s router", home.Name, rep.BehindNAT, home.Kind)
	}
}

// TestNATCheckAgreesWithStunClient runs nat.Check in-process from sockets
// opened inside each home namespace, against stund, and compares with the
// reference client on the same host.
func TestNATCheckAgreesWithStunClient(t *testing.T) {
	forEachNATHome(t, func(home *nslab.Home, ref nslab.StunResult, stunAddr string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rep, err := nat.Check(ctx, nat.Options{
			Servers:  []string{stunAddr},
			Listener: home.Host,
			LocalIP:  home.Host.IP().String(),
			// UPnP discovery would open its sockets outside the lab.
			NoUPnP:  true,
			Timeout: 20 * time.Second,
		})
		cancel()
		if err != nil {
			t.Fatalf("%s: nat.Check: %v", home.Name, err)
		}
		t.Logf("%s: stun-client %q; nat.Check %s/%s/%s public %s", home.Name, ref.Primary, rep.NATType, rep.Mapping, rep.Filtering, rep.PublicAddr)
		compareWithStunClient(t, home, ref, rep)
	})
}

// forEachNATHome builds a lab with stund on the public side and one home
// per NAT kind, classifies each home with the reference stun client, and
// hands both to check.
func forEachNATHome(t *testing.T, check func(home *nslab.Home, ref nslab.StunResult, stunAddr string)) {
	t.Helper()
	nslab.Require(t, "stund", "stun")
	l := nslab.New(t)
	pub := l.PublicHost("stun", 2)
	stund := pub.StartStund()
	for _, hc := range natHomes {
		home := l.Home(hc.name, hc.kind)
		ref, err := home.Host.StunClassify(stund.Primary)
		if err != nil {
			t.Fatalf("%s: %v", hc.name, err)
		}
		check(home, ref, stund.Addr())
	}
}

// runNatCLI runs `swarmscope nat --json` on the host and decodes the report.
func runNatCLI(t *testing.T, h *nslab.Host, args ...string) nat.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := h.Command(ctx, binary, append([]string{"nat", "--json"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("swarmscope nat %s on %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), h.Name, err, out, stderr.String())
	}
	var rep nat.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("swarmscope nat --json printed no report: %v\n%s", err, out)
	}
	return rep
}

// Scenario 5 and the nat issue's lab test: `swarmscope nat --json` on each
// home network agrees with stun-client against stund.
func TestNatCommandAgreesWithStunClient(t *testing.T) {
	needFeature(t, "keep-mapping", "the `swarmscope nat` command")
	forEachNATHome(t, func(home *nslab.Home, ref nslab.StunResult, stunAddr string) {
		rep := runNatCLI(t, home.Host, "--stun", stunAddr, "--no-upnp", "--timeout", "20s")
		t.Logf("%s: stun-client %q; swarmscope nat %s/%s/%s public %s verdict %s", home.Name, ref.Primary, rep.NATType, rep.Mapping, rep.Filtering, rep.PublicAddr, rep.Reachable.Verdict)
		compareWithStunClient(t, home, ref, rep)
		want := map[nslab.NATKind]nat.Verdict{
			nslab.NATNone:           nat.VerdictPublic,
			nslab.NATPortRestricted: nat.VerdictOutboundOnly,
			nslab.NATSymmetric:      nat.VerdictOutboundOnly,
		}[home.Kind]
		if rep.Reachable.Verdict != want {
			t.Errorf("%s: verdict %q, want %q (%s)", home.Name, rep.Reachable.Verdict, want, rep.Reachable.Advice)
		}
	})
}

// TestNatCommandUPnP: on the miniupnpd network, `swarmscope nat` finds the
// gateway, maps the port, says peers can reach it through UPnP, and removes
// the mapping on exit; with --keep-mapping the mapping stays and an outside
// host connects through it; SIGTERM during the check still removes it.
func TestNatCommandUPnP(t *testing.T) {
	needFeature(t, "keep-mapping", "the `swarmscope nat` command")
	nslab.Require(t, "stund", "stun", "miniupnpd", "upnpc")
	l := nslab.New(t)
	pub := l.PublicHost("stun", 2)
	stund := pub.StartStund()
	outside := l.PublicHost("outside", 1)
	home := l.Home("upnp", nslab.NATPortRestricted)
	home.StartMiniUPnPd()

	ref, err := home.Host.StunClassify(stund.Primary)
	if err != nil {
		t.Fatal(err)
	}
	const port = 7300
	rep := runNatCLI(t, home.Host, "--stun", stund.Addr(), "--port", strconv.Itoa(port), "--timeout", "20s")
	compareWithStunClient(t, home, ref, rep)
	if !rep.UPnP.Found || rep.UPnP.ExternalIP != home.Router.IP().String() {
		t.Errorf("upnp: found %v external_ip %q (error %q), want the gateway with %s", rep.UPnP.Found, rep.UPnP.ExternalIP, rep.UPnP.Error, home.Router.IP())
	}
	if len(rep.UPnP.Mappings) == 0 {
		t.Errorf("upnp: no mapping reported (error %q)", rep.UPnP.Error)
	}
	if rep.Reachable.Verdict != nat.VerdictUPnP {
		t.Errorf("verdict %q, want %q (%s)", rep.Reachable.Verdict, nat.VerdictUPnP, rep.Reachable.Advice)
	}
	if nat.Yes(rep.DoubleNAT) {
		t.Errorf("double_nat reported for a single NAT")
	}
	requireNoMapping(t, home, port, "after swarmscope nat exited")

	// --keep-mapping: the mapping outlives the command and works.
	const kept = 7301
	rep = runNatCLI(t, home.Host, "--stun", stund.Addr(), "--port", strconv.Itoa(kept), "--keep-mapping", "--timeout", "20s")
	ms := mappingsFor(t, home, kept)
	if len(ms) == 0 {
		t.Fatalf("--keep-mapping: upnpc -l shows no mapping of %d (report: %+v)", kept, rep.UPnP)
	}
	t.Cleanup(func() {
		for _, m := range ms {
			_, _ = home.Host.Run("upnpc", "-d", strconv.Itoa(m.ExternalPort), m.Proto)
		}
	})
	checkOutsideReaches(t, outside, home, ms)

	// SIGTERM while the check runs: a STUN server that never answers keeps
	// it running until the mapping is made, then the signal must still
	// remove it.
	silent := l.PublicHost("silent", 1)
	if err := silent.NFT(`table inet silent {
  chain incoming {
    type filter hook input priority 0; policy accept;
    udp dport 3478 drop
  }
}`); err != nil {
		t.Fatal(err)
	}
	const termed = 7302
	p := home.Host.StartWith(nslab.StartOptions{SeparateStdout: true}, binary, "nat", "--json",
		"--stun", netip.AddrPortFrom(silent.IP(), 3478).String(), "--port", strconv.Itoa(termed), "--timeout", "60s")
	err = nslab.WaitFor(30*time.Second, func() (bool, error) {
		if p.Exited() {
			return false, nslab.Stop(fmt.Errorf("swarmscope nat exited before mapping: %v\n%s", p.Err(), p.Output()))
		}
		return len(mappingsFor(t, home, termed)) > 0, nil
	})
	if err != nil {
		t.Fatalf("waiting for the mapping before SIGTERM: %v", err)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(20 * time.Second); err != nil && !p.Exited() {
		t.Fatalf("swarmscope nat did not exit after SIGTERM: %v", err)
	}
	requireNoMapping(t, home, termed, "after SIGTERM")
}

// checkOutsideReaches connects from a public host to the gateway's mapped
// port and expects to reach a listener on the home host.
func checkOutsideReaches(t *testing.T, outside *nslab.Host, home *nslab.Home, ms []nslab.UPnPMapping) {
	t.Helper()
	m := ms[0]
	for _, x := range ms {
		if x.Proto == "TCP" {
			m = x
		}
	}
	internal, err := netip.ParseAddrPort(m.Internal)
	if err != nil {
		t.Fatalf("mapping internal address %q: %v", m.Internal, err)
	}
	ext := netip.AddrPortFrom(home.Router.IP(), uint16(m.ExternalPort)).String()
	const hello = "through the mapping"
	if m.Proto == "TCP" {
		ln, err := home.Host.Listen("tcp", fmt.Sprintf(":%d", internal.Port()))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err == nil {
				_, _ = io.WriteString(c, hello)
				c.Close()
			}
		}()
		c, err := outside.DialTimeout("tcp", ext, 5*time.Second)
		if err != nil {
			t.Fatalf("outside host cannot connect to %s: %v", ext, err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		if string(b) != hello {
			t.Fatalf("read %q through %s", b, ext)
		}
		return
	}
	pc, err := home.Host.ListenPacket(context.Background(), "udp4", fmt.Sprintf(":%d", internal.Port()))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 1500)
		_ = pc.SetDeadline(time.Now().Add(10 * time.Second))
		n, from, err := pc.ReadFrom(buf)
		if err == nil {
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	c, err := outside.DialTimeout("udp4", ext, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1500)
	for i := 0; i < 5; i++ {
		_, _ = io.WriteString(c, hello)
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := c.Read(buf); err == nil && string(buf[:n]) == hello {
			return
		}
	}
	t.Fatalf("no UDP echo through %s", ext)
}
