package nat_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/nat/stunserver"
)

// Hostile or broken STUN servers on an unNATed loopback host: whatever
// they do, the report must never state a behaviour they did not prove.
// Each case names what it must not say.

// notFiltered fails if the report claims filtering or a filtered type.
func notFiltered(t *testing.T, rep nat.Report) {
	t.Helper()
	if rep.Filtering == nat.BehaviorAddressDependent || rep.Filtering == nat.BehaviorAddressAndPortDependent {
		t.Errorf("filtering %s claimed; notes %v", rep.Filtering, rep.Notes)
	}
	switch rep.NATType {
	case nat.TypeSymmetricFirewall, nat.TypeRestrictedCone, nat.TypePortRestrictedCone, nat.TypeUDPBlocked:
		t.Errorf("type %s claimed; notes %v", rep.NATType, rep.Notes)
	}
	if rep.Reachable.Verdict == nat.VerdictOutboundOnly || rep.Reachable.Verdict == nat.VerdictPublic {
		t.Errorf("verdict %s: %s", rep.Reachable.Verdict, rep.Reachable.Advice)
	}
}

// A server whose OTHER-ADDRESS leads nowhere and which drops every
// CHANGE-REQUEST: silence is the server's, not a filter's.
func TestHostileUnreachableOtherAndDroppedChange(t *testing.T) {
	nowhere, err := net.ListenPacket("udp4", "127.0.0.3:0") // bound, never read
	if err != nil {
		t.Fatal(err)
	}
	defer nowhere.Close()
	srv := loopbackServer(t, stunserver.AdvertiseOther(nowhere.LocalAddr().(*net.UDPAddr)), stunserver.DropChangeRequest())
	rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{srv}, LocalIP: "127.0.0.1", NoUPnP: true, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	notFiltered(t, rep)
	if rep.Filtering != nat.BehaviorUnknown || !nat.No(rep.BehindNAT) {
		t.Errorf("filtering %s behind %v", rep.Filtering, rep.BehindNAT)
	}
}

// A server that drops CHANGE-REQUEST but whose second address answers
// direct requests.
func TestHostileDroppedChange(t *testing.T) {
	srv := loopbackServer(t, stunserver.DropChangeRequest())
	rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{srv}, LocalIP: "127.0.0.1", NoUPnP: true, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	notFiltered(t, rep)
	if rep.Filtering != nat.BehaviorUnknown {
		t.Errorf("filtering %s", rep.Filtering)
	}
}

// A server that answers CHANGE-REQUESTs 1 s late, after the silence
// window of the default timing. A loaded machine may stretch the window
// until the answer fits (then "endpoint-independent" is right too); a
// filtered verdict is never right.
func TestHostileDelayedChange(t *testing.T) {
	srv := loopbackServer(t, stunserver.DelayChangeRequest(time.Second))
	rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{srv}, LocalIP: "127.0.0.1", NoUPnP: true, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	notFiltered(t, rep)
}

// An IPv6 "mapped address" for an IPv4 request describes no mapping of
// this socket: rejected, and not read as silence either.
func TestHostileWrongFamily(t *testing.T) {
	srv := loopbackServer(t, stunserver.MappedAddress(net.ParseIP("2001:db8::1")))
	rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{srv}, LocalIP: "127.0.0.1", NoUPnP: true, Timeout: 20 * time.Second, MinRTO: testRTO})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PublicAddr != "" || rep.Servers[0].Outcome != nat.OutcomeWrongFamily || rep.Measured() {
		t.Fatalf("public %q servers %+v", rep.PublicAddr, rep.Servers)
	}
	if rep.NATType != nat.TypeUnknown || rep.BehindNAT != nil || rep.Reachable.Verdict != nat.VerdictUnknown {
		t.Fatalf("type %s behind %v verdict %s", rep.NATType, rep.BehindNAT, rep.Reachable.Verdict)
	}
}

// Malformed replies prove UDP works: never "udp-blocked".
func TestHostileMalformed(t *testing.T) {
	srv := loopbackServer(t, stunserver.Malformed())
	rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{srv}, LocalIP: "127.0.0.1", NoUPnP: true, Timeout: 20 * time.Second, MinRTO: testRTO})
	if err != nil {
		t.Fatal(err)
	}
	if rep.NATType != nat.TypeUnknown || rep.Servers[0].Outcome != nat.OutcomeMalformed || rep.Measured() {
		t.Fatalf("type %s servers %+v", rep.NATType, rep.Servers)
	}
	if !strings.Contains(rep.Reachable.Advice, "malformed") {
		t.Errorf("advice %q", rep.Reachable.Advice)
	}
}

// A time limit too short to hear anything is not a measurement of UDP.
func TestHostileTinyTimeout(t *testing.T) {
	srv := loopbackServer(t)
	for _, d := range []time.Duration{time.Nanosecond, time.Millisecond} {
		rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{srv}, LocalIP: "127.0.0.1", NoUPnP: true, Timeout: d})
		if err != nil {
			continue // the socket could not even be opened in time
		}
		if rep.NATType == nat.TypeUDPBlocked {
			t.Errorf("timeout %v: udp-blocked; servers %+v", d, rep.Servers)
		}
	}
}

// Two servers that disagree on the public address: the report says so.
func TestHostileServersDisagree(t *testing.T) {
	honest := loopbackServer(t, stunserver.NoOtherAddress())
	liar := loopbackServer(t, stunserver.NoOtherAddress(), stunserver.MappedAddress(net.ParseIP("127.0.0.9")))
	rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{honest, liar}, LocalIP: "127.0.0.1", NoUPnP: true, Timeout: 20 * time.Second, MinRTO: testRTO})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Disagreements) == 0 || !strings.Contains(strings.Join(rep.Disagreements, " "), "127.0.0.9") {
		t.Fatalf("disagreements %q", rep.Disagreements)
	}
	if rep.Mapping == nat.BehaviorEndpointIndependent || rep.Reachable.Verdict == nat.VerdictPublic {
		t.Fatalf("mapping %s verdict %s", rep.Mapping, rep.Reachable.Verdict)
	}
}

// Nothing measured: the flags are unknown (JSON null), never false.
func TestUnmeasuredIsNull(t *testing.T) {
	rep, err := nat.Check(context.Background(), nat.Options{Servers: []string{"stun.invalid:3478"}, NoUPnP: true, Timeout: 3 * time.Second,
		Resolve: func(ctx context.Context, hostport string) (*net.UDPAddr, error) {
			return nil, &net.DNSError{Err: "no such host", Name: hostport, IsNotFound: true}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Measured() {
		t.Fatal("measured")
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"behind_nat":null`, `"double_nat":null`, `"cgnat":null`, `"port_preserved":null`, `"hairpin":null`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("JSON lacks %s: %s", k, b)
		}
	}
}

// Loopback, private and CGNAT addresses are never called public.
func TestNeverPublicUnlessPublic(t *testing.T) {
	f := false
	for _, addr := range []string{"127.0.0.1:6881", "10.1.2.3:6881", "192.168.1.5:6881", "100.64.7.8:6881", "[fd00::5]:6881"} {
		r := nat.Report{Servers: []nat.ServerResult{{Address: "s:1", MappedAddr: addr, Outcome: nat.OutcomeAnswered}}, PublicAddr: addr, LocalAddr: addr,
			BehindNAT: &f, Mapping: nat.BehaviorNone, Filtering: nat.BehaviorEndpointIndependent}
		r.Judge()
		if r.Reachable.Verdict == nat.VerdictPublic || r.Reachable.Verdict == nat.VerdictFullCone || strings.Contains(r.Reachable.Advice, "is public") {
			t.Errorf("%s: %s: %s", addr, r.Reachable.Verdict, r.Reachable.Advice)
		}
	}
}
