package igd

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/huin/goupnp/dcps/internetgateway1"
	"github.com/huin/goupnp/soap"
	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/nat/natlab"
)

func setup(t *testing.T) (*natlab.Internet, *natlab.NAT, *natlab.Host, *Gateway) {
	t.Helper()
	in := natlab.New(1)
	cfg, _ := natlab.Preset(nat.TypePortRestrictedCone)
	r, err := in.Public().AddNAT("home", cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.AddHost("you", natlab.LinkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := Start(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return in, r, h, g
}

func read(c net.PacketConn, wait time.Duration) string {
	c.SetReadDeadline(time.Now().Add(wait))
	b := make([]byte, 2048)
	n, _, err := c.ReadFrom(b)
	if err != nil {
		return ""
	}
	return string(b[:n])
}

// TestGoupnpMapsAPort drives the gateway with goupnp's generated client and
// checks that the mapping really opens the simulated NAT.
func TestGoupnpMapsAPort(t *testing.T) {
	in, r, h, g := setup(t)
	loc, _ := url.Parse(g.Location())
	clients, err := internetgateway1.NewWANIPConnection1ClientsByURL(loc)
	if err != nil || len(clients) != 1 {
		t.Fatalf("goupnp found %d clients: %v", len(clients), err)
	}
	c := clients[0]
	ip, err := c.GetExternalIPAddress()
	if err != nil || ip != r.PublicIP().String() {
		t.Fatalf("external IP %q, %v", ip, err)
	}
	if st, _, _, err := c.GetStatusInfo(); err != nil || st != "Connected" {
		t.Fatalf("status %q %v", st, err)
	}

	outside, _ := in.Public().AddHost("peer", natlab.LinkConfig{}, netip.MustParseAddr("198.51.100.7"))
	oc, _ := outside.ListenPacket(context.Background(), "udp", ":4000")
	defer oc.Close()
	hc, _ := h.ListenPacket(context.Background(), "udp", ":6881")
	defer hc.Close()
	target := &net.UDPAddr{IP: r.PublicIP().AsSlice(), Port: 16881}

	oc.WriteTo([]byte("before"), target)
	if got := read(hc, 300*time.Millisecond); got != "" {
		t.Fatalf("unmapped port delivered %q", got)
	}
	if err := c.AddPortMapping("", 16881, "UDP", 6881, h.Addr().String(), true, "swarmscope", 3600); err != nil {
		t.Fatal(err)
	}
	oc.WriteTo([]byte("after"), target)
	if got := read(hc, 5*time.Second); got != "after" {
		t.Fatalf("mapped port delivered %q", got)
	}
	port, client, _, desc, lease, err := c.GetSpecificPortMappingEntry("", 16881, "UDP")
	if err != nil || port != 6881 || client != h.Addr().String() || desc != "swarmscope" || lease == 0 || lease > 3600 {
		t.Fatalf("entry %d %s %q %d %v", port, client, desc, lease, err)
	}
	if _, ext, proto, _, _, _, _, _, err := c.GetGenericPortMappingEntry(0); err != nil || ext != 16881 || proto != "UDP" {
		t.Fatalf("generic entry %d %s %v", ext, proto, err)
	}
	_, _, _, _, _, _, _, _, err = c.GetGenericPortMappingEntry(1)
	if fe, ok := err.(*soap.SOAPFaultError); !ok || !strings.Contains(string(fe.Detail.Raw), "713") {
		t.Fatalf("index past the end: %v", err)
	}

	// Another client cannot take the port.
	if err := c.AddPortMapping("", 16881, "UDP", 6881, "192.168.1.99", true, "thief", 0); err == nil {
		t.Fatal("conflicting mapping accepted")
	}
	if err := c.DeletePortMapping("", 16881, "UDP"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePortMapping("", 16881, "UDP"); err == nil {
		t.Fatal("deleting twice succeeded")
	}
	oc.WriteTo([]byte("deleted"), target)
	if got := read(hc, 300*time.Millisecond); got != "" {
		t.Fatalf("deleted mapping delivered %q", got)
	}
	if len(r.Forwards()) != 0 {
		t.Fatalf("forwards left: %v", r.Forwards())
	}
}

func TestLeaseExpires(t *testing.T) {
	_, r, h, g := setup(t)
	loc, _ := url.Parse(g.Location())
	clients, err := internetgateway1.NewWANIPConnection1ClientsByURL(loc)
	if err != nil {
		t.Fatal(err)
	}
	if err := clients[0].AddPortMapping("", 7000, "UDP", 7000, h.Addr().String(), true, "short", 1); err != nil {
		t.Fatal(err)
	}
	if len(r.Forwards()) != 1 {
		t.Fatal("no forward")
	}
	time.Sleep(1500 * time.Millisecond)
	if f := r.Forwards(); len(f) != 0 {
		t.Fatalf("expired lease still forwarded: %v", f)
	}
	if _, _, _, _, _, err := clients[0].GetSpecificPortMappingEntry("", 7000, "UDP"); err == nil {
		t.Fatal("expired entry still listed")
	}
}

func TestBadRequests(t *testing.T) {
	_, _, _, g := setup(t)
	loc, _ := url.Parse(g.Location())
	clients, _ := internetgateway1.NewWANIPConnection1ClientsByURL(loc)
	c := clients[0]
	if err := c.AddPortMapping("", 0, "UDP", 1, "192.168.1.2", true, "", 0); err == nil {
		t.Fatal("wildcard port accepted")
	}
	if err := c.AddPortMapping("", 1000, "SCTP", 1, "192.168.1.2", true, "", 0); err == nil {
		t.Fatal("bad protocol accepted")
	}
	if err := c.AddPortMapping("", 1000, "UDP", 1, "10.9.9.9", true, "", 0); err == nil {
		t.Fatal("client outside the LAN accepted")
	}
	for _, body := range []string{"", "garbage", "<a/>", "<Envelope><Body></Body></Envelope>"} {
		resp, err := httpPost(g.Location(), body)
		if err != nil {
			t.Fatal(err)
		}
		if resp != 500 {
			t.Fatalf("body %q: status %d", body, resp)
		}
	}
}

func TestSSDP(t *testing.T) {
	_, _, h, g := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.ServeSSDP(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	c, _ := h.ListenPacket(ctx, "udp", ":0")
	defer c.Close()
	req := "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: " + serviceIP + "\r\n\r\n"
	// The responder may not be listening yet; retry like a real client.
	var got string
	for range 50 {
		c.WriteTo([]byte(req), &net.UDPAddr{IP: net.IPv4(239, 255, 255, 250), Port: 1900})
		if got = read(c, 100*time.Millisecond); got != "" {
			break
		}
	}
	if !strings.Contains(got, "LOCATION: "+g.Location()) {
		t.Fatalf("SSDP answer %q", got)
	}
}

func httpPost(loc, body string) (int, error) {
	u := strings.Replace(loc, descPath, controlPath, 1)
	resp, err := http.Post(u, "text/xml", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
