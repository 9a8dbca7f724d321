package nat

import (
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	ei, ad, apd, unk := BehaviorEndpointIndependent, BehaviorAddressDependent, BehaviorAddressAndPortDependent, BehaviorUnknown
	for _, tc := range []struct {
		any, behind bool
		m, f        Behavior
		want        Type
	}{
		{false, false, unk, unk, TypeUDPBlocked},
		{true, false, BehaviorNone, ei, TypeOpen},
		{true, false, BehaviorNone, apd, TypeSymmetricFirewall},
		{true, false, BehaviorNone, unk, TypeUnknown},
		{true, true, ei, ei, TypeFullCone},
		{true, true, ei, ad, TypeRestrictedCone},
		{true, true, ei, apd, TypePortRestrictedCone},
		{true, true, ei, unk, TypeUnknown},
		{true, true, ad, unk, TypeSymmetric},
		{true, true, BehaviorEndpointDependent, unk, TypeSymmetric},
		{true, true, unk, ei, TypeUnknown},
	} {
		if got := Classify(tc.any, tc.behind, tc.m, tc.f); got != tc.want {
			t.Errorf("%+v: got %s", tc, got)
		}
	}
}

func TestJudge(t *testing.T) {
	ok := []ServerResult{{Address: "s:1", MappedAddr: "198.51.100.1:6881"}}
	yes := true
	for _, tc := range []struct {
		name    string
		r       Report
		verdict Verdict
		double  bool
		advice  []string
	}{
		{"upnp", Report{Servers: ok, BehindNAT: &yes, PublicAddr: "198.51.100.1:6881", LocalAddr: "192.168.1.5:6881", ProbedPort: 6881, ListenPort: 6881, Mapping: BehaviorEndpointIndependent, Filtering: BehaviorAddressAndPortDependent,
			UPnP: UPnPReport{Found: true, ExternalIP: "198.51.100.1", Mappings: []Mapping{{Proto: "TCP", ExternalPort: 6881}}}}, VerdictUPnP, false, []string{"6881", "UPnP"}},
		{"gateway behind cgnat", Report{Servers: ok, BehindNAT: &yes, PublicAddr: "198.51.100.1:6881", LocalAddr: "192.168.1.5:6881", ProbedPort: 6881, ListenPort: 6881, Mapping: BehaviorEndpointIndependent, Filtering: BehaviorAddressAndPortDependent,
			UPnP: UPnPReport{Found: true, ExternalIP: "100.64.3.4", Mappings: []Mapping{{Proto: "TCP", ExternalPort: 6881}}}}, VerdictOutboundOnly, true, []string{"carrier-grade", "holepunching"}},
		{"gateway ip differs", Report{Servers: ok, BehindNAT: &yes, PublicAddr: "198.51.100.1:6881", ProbedPort: 6881, ListenPort: 6881, Mapping: BehaviorAddressAndPortDependent, Filtering: BehaviorAddressAndPortDependent,
			UPnP: UPnPReport{Found: true, ExternalIP: "203.0.113.9"}}, VerdictOutboundOnly, true, []string{"two NATs", "defeats holepunching"}},
		{"symmetric", Report{Servers: ok, BehindNAT: &yes, PublicAddr: "198.51.100.1:7000", LocalAddr: "192.168.1.5:6881", ProbedPort: 6881, ListenPort: 6881, Mapping: BehaviorAddressAndPortDependent, Filtering: BehaviorAddressAndPortDependent},
			VerdictOutboundOnly, false, []string{"symmetric", "defeats holepunching", "forward port 6881 (TCP and UDP) to 192.168.1.5"}},
		{"port restricted", Report{Servers: ok, BehindNAT: &yes, PublicAddr: "198.51.100.1:6881", LocalAddr: "192.168.1.5:6881", ProbedPort: 6881, ListenPort: 6881, Mapping: BehaviorEndpointIndependent, Filtering: BehaviorAddressAndPortDependent},
			VerdictOutboundOnly, false, []string{"holepunching (BEP 55) work", "port 6881"}},
		{"full cone", Report{Servers: ok, BehindNAT: &yes, PublicAddr: "198.51.100.1:6881", ProbedPort: 6881, ListenPort: 6881, Mapping: BehaviorEndpointIndependent, Filtering: BehaviorEndpointIndependent, PortPreserved: &yes},
			VerdictFullCone, false, []string{"198.51.100.1:6881"}},
		{"listen port named", Report{Servers: ok, BehindNAT: &yes, PublicAddr: "198.51.100.1:40000", ProbedPort: 40000, ListenPort: 6881, Mapping: BehaviorAddressAndPortDependent, Filtering: BehaviorAddressAndPortDependent},
			VerdictOutboundOnly, false, []string{"port 6881"}},
		{"random probe port not named", Report{Servers: ok, BehindNAT: &yes, PublicAddr: "198.51.100.1:40000", ProbedPort: 40000, Mapping: BehaviorEndpointIndependent, Filtering: BehaviorAddressAndPortDependent},
			VerdictOutboundOnly, false, []string{"your torrent client's listen port"}},
		{"blocked", Report{Servers: []ServerResult{{Address: "s:1", Error: "no response", Outcome: OutcomeSilent, Resolved: "198.51.100.9:3478"}}}, VerdictUnknown, false, []string{"UDP looks blocked"}},
		{"unknown", Report{Servers: ok, BehindNAT: &yes, PublicAddr: "198.51.100.1:6881", ProbedPort: 6881, ListenPort: 6881, Mapping: BehaviorUnknown, Filtering: BehaviorUnknown}, VerdictUnknown, false, []string{"RFC 5780"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			r.Judge()
			if r.Reachable.Verdict != tc.verdict || Yes(r.DoubleNAT) != tc.double {
				t.Fatalf("verdict %s double %v: %s", r.Reachable.Verdict, r.DoubleNAT, r.Reachable.Advice)
			}
			for _, want := range tc.advice {
				if !strings.Contains(r.Reachable.Advice, want) {
					t.Errorf("advice %q lacks %q", r.Reachable.Advice, want)
				}
			}
		})
	}
}

func TestJudgeUnresolved(t *testing.T) {
	r := Report{Servers: []ServerResult{{Address: "stun.invalid:3478", Error: "resolve stun.invalid: no such host"}, {Address: "x", Error: "bad server address \"x\""}}}
	r.Judge()
	if r.NATType != TypeUnknown || r.Reachable.Verdict != VerdictUnknown || !strings.Contains(r.Reachable.Advice, "resolved") {
		t.Fatalf("%+v", r)
	}
}
