package nslab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Stund is a running classic (RFC 3489) STUN server.
type Stund struct {
	*Proc
	// Primary and Alternate are the two addresses; it answers on ports
	// 3478 and 3479 of each.
	Primary, Alternate netip.Addr
}

// Addr is the primary server address, host:port.
func (s *Stund) Addr() string { return netip.AddrPortFrom(s.Primary, 3478).String() }

// StartStund runs stund (package stun-server) on a public host with at least
// two addresses and waits until it answers.
func (h *Host) StartStund() *Stund {
	t := h.lab.t
	t.Helper()
	if len(h.IPs) < 2 {
		t.Fatalf("nslab: stund needs a host with two addresses, %s has %d", h.Name, len(h.IPs))
	}
	bin, err := LookPath("stund")
	if err != nil {
		unavailable(t, "%v", err)
	}
	s := &Stund{Primary: h.IPs[0], Alternate: h.IPs[1]}
	s.Proc = h.Start(bin, "-h", s.Primary.String(), "-a", s.Alternate.String())
	if err := WaitFor(10*time.Second, func() (bool, error) {
		if s.Exited() {
			return false, Stop(fmt.Errorf("stund exited: %v: %s", s.Err(), s.Output()))
		}
		return udpListening(h, s.Primary, 3478) && udpListening(h, s.Alternate, 3479), nil
	}); err != nil {
		t.Fatalf("nslab: stund did not come up: %v", err)
	}
	return s
}

// udpListening reports whether a UDP socket is bound to ip:port in the
// host's namespace.
func udpListening(h *Host, ip netip.Addr, port int) bool {
	out, err := h.Run("ss", "-Hlnu")
	if err != nil {
		return false
	}
	want := netip.AddrPortFrom(ip, uint16(port)).String()
	for _, line := range strings.Split(out, "\n") {
		for _, f := range strings.Fields(line) {
			if f == want {
				return true
			}
		}
	}
	return false
}

// StunResult is what the reference client `stun` (package stun-client)
// concluded.
type StunResult struct {
	// Primary is the text after "Primary:", e.g. "Independent Mapping,
	// Port Dependent Filter, preserves ports, no hairpin".
	Primary string
	// Type is the classic name, spelled like nat.Type ("open",
	// "port-restricted-cone", "symmetric", ...), or "unknown".
	Type string
	// Mapping and Filtering are spelled like nat.Behavior, or "" when the
	// client does not say.
	Mapping, Filtering string
	PreservesPort      bool
	Raw                string
}

// StunClassify runs the stun-client reference classifier on the host
// against the server.
func (h *Host) StunClassify(server netip.Addr) (StunResult, error) {
	bin, err := LookPath("stun")
	if err != nil {
		return StunResult{}, err
	}
	// stun exits with a bit field, not a success flag; its text is the
	// result.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, _ := h.Command(ctx, bin, server.String()).CombinedOutput()
	return ParseStunOutput(string(out))
}

var stunPrimary = regexp.MustCompile(`(?m)^Primary: (.*?)\s*$`)

// ParseStunOutput reads the "Primary:" verdict of stun-client 0.97.
func ParseStunOutput(out string) (StunResult, error) {
	m := stunPrimary.FindStringSubmatch(out)
	if m == nil {
		return StunResult{Raw: out}, fmt.Errorf("stun client printed no verdict: %q", strings.TrimSpace(out))
	}
	r := StunResult{Primary: m[1], Raw: out, Type: "unknown"}
	p := m[1]
	r.PreservesPort = strings.Contains(p, "preserves ports")
	switch {
	case strings.HasPrefix(p, "Open"):
		// A public host has no mapping; "filtering" is whatever its own
		// firewall does, which stund does not tell apart.
		r.Type, r.Mapping = "open", "none"
	case strings.HasPrefix(p, "Independent Mapping, Independent Filter"):
		r.Type, r.Mapping, r.Filtering = "full-cone", "endpoint-independent", "endpoint-independent"
	case strings.HasPrefix(p, "Independent Mapping, Address Dependent Filter"):
		r.Type, r.Mapping, r.Filtering = "restricted-cone", "endpoint-independent", "address-dependent"
	case strings.HasPrefix(p, "Independent Mapping, Port Dependent Filter"):
		r.Type, r.Mapping, r.Filtering = "port-restricted-cone", "endpoint-independent", "address-and-port-dependent"
	case strings.HasPrefix(p, "Dependent Mapping"):
		// stund cannot tell address- from address-and-port-dependent
		// mapping, so Mapping stays unset.
		r.Type = "symmetric"
	case strings.HasPrefix(p, "Firewall"):
		r.Type, r.Mapping = "symmetric-firewall", "none"
	case strings.HasPrefix(p, "Blocked"):
		r.Type = "udp-blocked"
	}
	return r, nil
}

// Tracker is a running opentracker.
type Tracker struct {
	*Proc
	Host *Host
	Port int
	dir  string
}

// AnnounceHTTP is the HTTP announce URL.
func (tr *Tracker) AnnounceHTTP() string {
	return fmt.Sprintf("http://%s/announce", netip.AddrPortFrom(tr.Host.IP(), uint16(tr.Port)))
}

// AnnounceUDP is the UDP announce URL.
func (tr *Tracker) AnnounceUDP() string {
	return fmt.Sprintf("udp://%s/announce", netip.AddrPortFrom(tr.Host.IP(), uint16(tr.Port)))
}

// StartOpentracker runs opentracker on the host, HTTP and UDP on port 6969,
// allowing the given info hashes (hex). Debian's build runs in whitelist
// mode, chroots into its root directory and drops privileges, so the
// whitelist lives in a directory readable by others and is named relative
// to it.
func (h *Host) StartOpentracker(infoHashes ...string) *Tracker {
	t := h.lab.t
	t.Helper()
	bin, err := LookPath("opentracker")
	if err != nil {
		unavailable(t, "%v", err)
	}
	dir := filepath.Join(h.lab.dir, "opentracker-"+h.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("nslab: %v", err)
	}
	_ = os.Chmod(dir, 0o755)
	tr := &Tracker{Host: h, Port: 6969, dir: dir}
	if err := tr.writeWhitelist(infoHashes); err != nil {
		t.Fatalf("nslab: %v", err)
	}
	conf := fmt.Sprintf("listen.tcp_udp %s\naccess.whitelist whitelist.txt\ntracker.rootdir %s\ntracker.user nobody\n",
		netip.AddrPortFrom(h.IP(), uint16(tr.Port)), dir)
	confPath := filepath.Join(dir, "opentracker.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatalf("nslab: %v", err)
	}
	tr.Proc = h.Start(bin, "-f", confPath)
	if err := h.WaitTCP(netip.AddrPortFrom(h.IP(), uint16(tr.Port)).String(), 10*time.Second); err != nil {
		t.Fatalf("nslab: opentracker did not come up: %v\n%s", err, tr.Output())
	}
	return tr
}

func (tr *Tracker) writeWhitelist(hashes []string) error {
	var b strings.Builder
	for _, ih := range hashes {
		if len(ih) != 40 {
			return fmt.Errorf("info hash %q is not 40 hex digits", ih)
		}
		b.WriteString(strings.ToLower(ih) + "\n")
	}
	if err := os.WriteFile(filepath.Join(tr.dir, "whitelist.txt"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write whitelist: %w", err)
	}
	return nil
}

// Scrape asks the tracker how many seeders and leechers it knows for the
// info hash (hex), over HTTP from the given host.
func (tr *Tracker) Scrape(from *Host, infoHash string) (complete, incomplete int, err error) {
	raw, err := hexToBytes(infoHash)
	if err != nil {
		return 0, 0, err
	}
	url := fmt.Sprintf("http://%s/scrape?info_hash=%s", netip.AddrPortFrom(tr.Host.IP(), uint16(tr.Port)), urlEscapeBytes(raw))
	body, err := from.HTTPGet(url)
	if err != nil {
		return 0, 0, err
	}
	// The reply is a tiny bencoded dictionary; the two counters are
	// enough here.
	c, ok1 := bencodeInt(body, "8:complete")
	i, ok2 := bencodeInt(body, "10:incomplete")
	if !ok1 || !ok2 {
		// opentracker omits unknown torrents from the files dictionary.
		return 0, 0, nil
	}
	return c, i, nil
}

// WaitSeeders waits until the tracker counts at least n seeders.
func (tr *Tracker) WaitSeeders(from *Host, infoHash string, n int, timeout time.Duration) error {
	return WaitFor(timeout, func() (bool, error) {
		c, _, err := tr.Scrape(from, infoHash)
		if err != nil {
			return false, err
		}
		return c >= n, fmt.Errorf("tracker counts %d seeders, want %d", c, n)
	})
}

// WaitPeers waits until the tracker counts at least n peers (seeders plus
// leechers).
func (tr *Tracker) WaitPeers(from *Host, infoHash string, n int, timeout time.Duration) error {
	return WaitFor(timeout, func() (bool, error) {
		c, i, err := tr.Scrape(from, infoHash)
		if err != nil {
			return false, err
		}
		return c+i >= n, fmt.Errorf("tracker counts %d peers, want %d", c+i, n)
	})
}

func bencodeInt(b []byte, key string) (int, bool) {
	i := strings.Index(string(b), key+"i")
	if i < 0 {
		return 0, false
	}
	rest := string(b[i+len(key)+1:])
	j := strings.IndexByte(rest, 'e')
	if j < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(rest[:j])
	return n, err == nil
}

func urlEscapeBytes(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		fmt.Fprintf(&s, "%%%02X", c)
	}
	return s.String()
}

func hexToBytes(h string) ([]byte, error) {
	if len(h)%2 != 0 {
		return nil, fmt.Errorf("odd-length hex %q", h)
	}
	out := make([]byte, len(h)/2)
	for i := range out {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("bad hex %q: %w", h, err)
		}
		out[i] = byte(v)
	}
	return out, nil
}

// HTTPGet fetches a URL from inside the host's namespace.
func (h *Host) HTTPGet(url string) ([]byte, error) {
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext:       h.Dial,
			DisableKeepAlives: true,
			Proxy:             nil,
		},
	}
	resp, err := client.Get(url)
	if err != nil {
		return nil, fmt.Errorf("GET %s from %s: %w", url, h.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s from %s: %w", url, h.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("GET %s from %s: %s", url, h.Name, resp.Status)
	}
	return body, nil
}

// MiniUPnPd is a running miniupnpd on a home router.
type MiniUPnPd struct {
	*Proc
	Home *Home
	Conf string
}

// UPnPTable is the nftables table miniupnpd writes its rules into.
const UPnPTable = "miniupnpd"

// MiniUPnPdOptions turns miniupnpd's protocols off: UPnP IGD, or NAT-PMP
// and PCP (one switch in miniupnpd, enable_natpmp).
type MiniUPnPdOptions struct {
	NoUPnP, NoNATPMP bool
}

// StartMiniUPnPd runs miniupnpd (nftables backend) on the home's router:
// WAN wan0, LAN lan0, UPnP IGD, NAT-PMP and PCP, mappings allowed for the
// LAN on ports 1024-65535. miniupnpd expects its table and chains to exist,
// so they are created first; it waits until the device description is
// served.
func (hm *Home) StartMiniUPnPd() *MiniUPnPd { return hm.StartMiniUPnPdWith(MiniUPnPdOptions{}) }

// StartMiniUPnPdWith is StartMiniUPnPd with protocols turned off; it waits
// for the UPnP HTTP port or, without UPnP, for the NAT-PMP/PCP port.
func (hm *Home) StartMiniUPnPdWith(o MiniUPnPdOptions) *MiniUPnPd {
	r := hm.Router
	t := r.lab.t
	t.Helper()
	if hm.Kind == NATNone {
		t.Fatalf("nslab: miniupnpd needs a NAT router")
	}
	bin, err := LookPath("miniupnpd")
	if err != nil {
		unavailable(t, "%v", err)
	}
	// Recreate the table so a restarted daemon starts from its own lease
	// file, not from rules a killed one left behind.
	_ = r.NFT("delete table inet " + UPnPTable)
	if err := r.NFT(`table inet ` + UPnPTable + ` {
  chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }
  chain miniupnpd { }
  chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }
  chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}`); err != nil {
		t.Fatalf("nslab: %v", err)
	}
	dir := filepath.Join(r.lab.dir, "miniupnpd-"+hm.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("nslab: %v", err)
	}
	lan := netip.PrefixFrom(hm.LANIP, 24).Masked()
	conf := strings.Join([]string{
		"ext_ifname=wan0",
		"listening_ip=lan0",
		"http_port=5000",
		"enable_upnp=" + yesNo(!o.NoUPnP),
		"enable_natpmp=" + yesNo(!o.NoNATPMP),
		"secure_mode=yes",
		"system_uptime=yes",
		"notify_interval=10",
		"uuid=3a6f1a4e-5b1c-4c2e-9b7a-" + fmt.Sprintf("%012x", hm.LANIP.As4()[2]),
		"upnp_table_name=" + UPnPTable,
		"upnp_nat_table_name=" + UPnPTable,
		"upnp_forward_chain=miniupnpd",
		"upnp_nat_chain=prerouting_miniupnpd",
		"upnp_nat_postrouting_chain=postrouting_miniupnpd",
		"lease_file=" + filepath.Join(dir, "leases"),
		"allow 1024-65535 " + lan.String() + " 1024-65535",
		"deny 0-65535 0.0.0.0/0 0-65535",
		"",
	}, "\n")
	confPath := filepath.Join(dir, "miniupnpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatalf("nslab: %v", err)
	}
	m := &MiniUPnPd{Home: hm, Conf: confPath}
	m.Proc = r.Start(bin, "-f", confPath, "-d", "-P", filepath.Join(dir, "miniupnpd.pid"))
	if !o.NoUPnP {
		if err := hm.Host.WaitTCP(netip.AddrPortFrom(hm.LANIP, 5000).String(), 10*time.Second); err != nil {
			t.Fatalf("nslab: miniupnpd did not come up: %v\n%s", err, m.Output())
		}
		return m
	}
	err = WaitFor(10*time.Second, func() (bool, error) {
		return udpListening(r, hm.LANIP, 5351) || udpListening(r, netip.IPv4Unspecified(), 5351), nil
	})
	if err != nil {
		t.Fatalf("nslab: miniupnpd does not listen on 5351: %v\n%s", err, m.Output())
	}
	return m
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// redirectRule matches miniupnpd's DNAT rules as nft lists them, e.g.
// `iif "wan0" @nh,72,8 0x6 th dport 7500 dnat ip to 192.168.1.2:7500`
// (IP protocol 6 = TCP, 0x11 = UDP, matched on the header's byte 9).
var redirectRule = regexp.MustCompile(`(?:@nh,72,8 (0x6|0x11)|\b(tcp|udp)) th dport (\d+) .*dnat (?:ip )?to ([0-9.]+:\d+)`)

// Redirects lists the port forwards miniupnpd holds, read from its nftables
// chain on the router: what any protocol (UPnP, NAT-PMP, PCP) mapped,
// whether or not UPnP is on to list it. Description and Lease stay empty.
func (m *MiniUPnPd) Redirects() ([]UPnPMapping, error) {
	out, err := m.Home.Router.Run("nft", "list", "chain", "inet", UPnPTable, "prerouting_miniupnpd")
	if err != nil {
		return nil, err
	}
	var ms []UPnPMapping
	for _, line := range strings.Split(out, "\n") {
		if x := redirectRule.FindStringSubmatch(line); x != nil {
			proto := map[string]string{"0x6": "TCP", "0x11": "UDP", "tcp": "TCP", "udp": "UDP"}[x[1]+x[2]]
			ext, _ := strconv.Atoi(x[3])
			ms = append(ms, UPnPMapping{Proto: proto, ExternalPort: ext, Internal: x[4]})
		}
	}
	return ms, nil
}

// UPnPMapping is one line of `upnpc -l`.
type UPnPMapping struct {
	Proto        string
	ExternalPort int
	Internal     string // ip:port
	Description  string
	Lease        int
}

var upnpcLine = regexp.MustCompile(`^\s*\d+\s+(TCP|UDP)\s+(\d+)->([0-9.]+:\d+)\s+'([^']*)'\s+'[^']*'\s+(\d+)`)

// UPnPList runs `upnpc -l` (package miniupnpc) on the host and returns the
// mappings the gateway lists.
func (h *Host) UPnPList() ([]UPnPMapping, error) {
	out, err := h.Run("upnpc", "-l")
	if err != nil {
		return nil, err
	}
	if !strings.Contains(out, "Found valid IGD") {
		return nil, fmt.Errorf("upnpc found no IGD: %s", strings.TrimSpace(out))
	}
	return ParseUPnPList(out), nil
}

// ParseUPnPList reads the mapping lines of `upnpc -l` output.
func ParseUPnPList(out string) []UPnPMapping {
	var ms []UPnPMapping
	for _, line := range strings.Split(out, "\n") {
		m := upnpcLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ext, _ := strconv.Atoi(m[2])
		lease, _ := strconv.Atoi(m[5])
		ms = append(ms, UPnPMapping{Proto: m[1], ExternalPort: ext, Internal: m[3], Description: m[4], Lease: lease})
	}
	return ms
}

// DialTimeout dials from the host with a timeout.
func (h *Host) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return h.Dial(ctx, network, address)
}
