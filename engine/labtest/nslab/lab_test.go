package nslab

import (
	"io"
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

// These tests check the lab itself against the reference tools, so that a
// swarmscope test failing in the lab points at swarmscope, not at the lab.

func TestParseStunOutput(t *testing.T) {
	cases := []struct{ out, typ, mapping, filtering string }{
		{"STUN client version 0.97\nPrimary: Open\t\nReturn value is 0x000001\n", "open", "none", ""},
		{"Primary: Independent Mapping, Port Dependent Filter, preserves ports, no hairpin\t\n", "port-restricted-cone", "endpoint-independent", "address-and-port-dependent"},
		{"Primary: Independent Mapping, Address Dependent Filter, random port, will hairpin\n", "restricted-cone", "endpoint-independent", "address-dependent"},
		{"Primary: Independent Mapping, Independent Filter, preserves ports, no hairpin\n", "full-cone", "endpoint-independent", "endpoint-independent"},
		{"Primary: Dependent Mapping, random port, no hairpin\n", "symmetric", "", ""},
		{"Primary: Blocked or could not reach STUN server\n", "udp-blocked", "", ""},
	}
	for _, c := range cases {
		r, err := ParseStunOutput(c.out)
		if err != nil {
			t.Fatalf("%q: %v", c.out, err)
		}
		if r.Type != c.typ || r.Mapping != c.mapping || r.Filtering != c.filtering {
			t.Errorf("%q: got %s/%s/%s, want %s/%s/%s", c.out, r.Type, r.Mapping, r.Filtering, c.typ, c.mapping, c.filtering)
		}
	}
	if _, err := ParseStunOutput("garbage"); err == nil {
		t.Error("no error for output without a verdict")
	}
}

func TestParseUPnPList(t *testing.T) {
	out := ` i protocol exPort->inAddr:inPort description remoteHost leaseTime
 0 TCP  6881->192.168.1.2:6881  'swarmscope' '' 3597
 1 UDP  6881->192.168.1.2:6881  'swarmscope' '' 0
GetGenericPortMappingEntry() returned 713 (SpecifiedArrayIndexInvalid)`
	ms := ParseUPnPList(out)
	if len(ms) != 2 || ms[0].Proto != "TCP" || ms[1].Proto != "UDP" || ms[0].ExternalPort != 6881 ||
		ms[0].Internal != "192.168.1.2:6881" || ms[0].Lease != 3597 || ms[0].Description != "swarmscope" {
		t.Fatalf("parsed %+v", ms)
	}
}

// TestLabNATKinds checks that each router kind is what stun-client says it
// is, against stund on the public segment.
func TestLabNATKinds(t *testing.T) {
	Require(t, "stund", "stun")
	l := New(t)
	pub := l.PublicHost("stun", 2)
	stund := pub.StartStund()
	want := map[NATKind]string{
		NATPortRestricted: "port-restricted-cone",
		NATSymmetric:      "symmetric",
		NATNone:           "open",
	}
	for _, kind := range []NATKind{NATPortRestricted, NATSymmetric, NATNone} {
		home := l.Home("h"+string(kind[:3]), kind)
		r, err := home.Host.StunClassify(stund.Primary)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if r.Type != want[kind] {
			t.Errorf("%s NAT: stun says %q (%s), want %s", kind, r.Type, r.Primary, want[kind])
		}
	}
}

// TestLabMiniUPnPd maps a port with upnpc and connects to it from outside.
func TestLabMiniUPnPd(t *testing.T) {
	Require(t, "miniupnpd", "upnpc")
	l := New(t)
	outside := l.PublicHost("outside", 1)
	home := l.Home("home", NATPortRestricted)
	home.StartMiniUPnPd()

	ln, err := home.Host.Listen("tcp", ":7001")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("hello from home"))
			c.Close()
		}
	}()

	wan := netip.AddrPortFrom(home.Router.IP(), 7001).String()
	if c, err := outside.DialTimeout("tcp", wan, 2*time.Second); err == nil {
		c.Close()
		t.Fatal("connected through the NAT before any mapping")
	}
	home.Host.MustRun("upnpc", "-e", "lab", "-a", home.Host.IP().String(), "7001", "7001", "TCP")
	ms, err := home.Host.UPnPList()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].ExternalPort != 7001 || ms[0].Internal != home.Host.IP().String()+":7001" {
		t.Fatalf("mappings %+v", ms)
	}
	c, err := outside.DialTimeout("tcp", wan, 5*time.Second)
	if err != nil {
		t.Fatalf("outside cannot connect through the mapping: %v", err)
	}
	b, _ := io.ReadAll(c)
	c.Close()
	if string(b) != "hello from home" {
		t.Fatalf("read %q through the mapping", b)
	}
	home.Host.MustRun("upnpc", "-d", "7001", "TCP")
	if ms, err := home.Host.UPnPList(); err != nil || len(ms) != 0 {
		t.Fatalf("after delete: %+v, %v", ms, err)
	}
}

// TestLabForeignClients moves a torrent from a public Transmission seeder to
// an aria2c leecher behind a port-restricted NAT through opentracker.
func TestLabForeignClients(t *testing.T) {
	Require(t, "opentracker", "transmission-daemon", "transmission-remote", "aria2c")
	l := New(t)
	trackerHost := l.PublicHost("tracker", 1)
	seedHost := l.PublicHost("seeder", 1)
	home := l.Home("home", NATPortRestricted)

	announce := "http://" + netip.AddrPortFrom(trackerHost.IP(), 6969).String() + "/announce"
	tt, err := MakeTorrent(l.Dir(), "lab.bin", 3<<20+12345, 1, announce)
	if err != nil {
		t.Fatal(err)
	}
	tracker := trackerHost.StartOpentracker(tt.InfoHash)
	seeder := seedHost.StartTransmission(tt.DataDir, 51413)
	if err := seeder.Add(tt.Path); err != nil {
		t.Fatal(err)
	}
	if err := seeder.WaitDone(60 * time.Second); err != nil {
		t.Fatalf("seeder did not verify its data: %v\n%s", err, seeder.Info())
	}
	if err := tracker.WaitSeeders(home.Host, tt.InfoHash, 1, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	dl := filepath.Join(l.Dir(), "dl")
	leech := home.Host.StartAria2Leecher(tt, dl, 6881)
	if err := leech.Wait(120 * time.Second); err != nil {
		t.Fatalf("aria2c: %v\n%s", err, leech.Output())
	}
	if err := tt.Verify(filepath.Join(dl, tt.Name)); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeder peers:\n%s", seeder.Peers())
}
