package nslab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvStrict is the environment variable that turns missing prerequisites
// into test failures instead of skips.
const EnvStrict = "SWARMSCOPE_LAB"

// PublicPrefix is the lab's "internet". It is not a reserved range, so
// miniupnpd accepts a WAN address in it; it only ever exists inside the
// lab's namespaces.
var PublicPrefix = netip.MustParsePrefix("11.0.0.0/24")

// Strict reports whether missing prerequisites must fail the test.
func Strict() bool { return os.Getenv(EnvStrict) == "1" }

// unavailable skips the test, or fails it in strict mode.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Strict() {
		t.Fatalf("lab prerequisite missing (%s=1): %s", EnvStrict, msg)
	}
	t.Skipf("lab prerequisite missing: %s (set %s=1 to fail instead)", msg, EnvStrict)
}

// Require skips the test (or fails it in strict mode) unless it runs on
// Linux as root with every named program installed. ip and nft are always
// required.
func Require(t testing.TB, programs ...string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		unavailable(t, "network namespaces need Linux, not %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		unavailable(t, "network namespaces need root")
	}
	var missing []string
	for _, p := range append([]string{"ip", "nft"}, programs...) {
		if _, err := LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		unavailable(t, "programs not installed: %s (see .ci/lab-packages.txt)", strings.Join(missing, ", "))
	}
}

// LookPath finds a program, also in the sbin directories that a non-login
// root shell may lack on its PATH.
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found on PATH or in sbin", name)
}

// Lab is one network-namespace lab. Its methods may be called from one test
// goroutine; the processes it starts are stopped when the test ends.
type Lab struct {
	t      testing.TB
	prefix string
	dir    string
	inet   string // namespace holding the public bridge

	mu         sync.Mutex
	namespaces []string
	nextPublic int
	nextRouter int
	nextHome   int
	nextPort   int

	nextLANPublic int
	procs         []*Proc
}

// New creates an empty lab: the namespace that holds the public bridge. It
// calls Require, so a test may start with New alone.
func New(t testing.TB) *Lab {
	t.Helper()
	Require(t)
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("nslab: random prefix: %v", err)
	}
	l := &Lab{
		t:             t,
		prefix:        "ssl" + hex.EncodeToString(b[:]),
		dir:           t.TempDir(),
		nextPublic:    10,
		nextRouter:    100,
		nextHome:      1,
		nextLANPublic: 200,
	}
	// The test's own temp directories must be reachable by daemons that
	// drop privileges (opentracker chroots into a subdirectory and runs as
	// nobody). Only directories below the system temp root are opened up.
	root := filepath.Clean(os.TempDir())
	for d := l.dir; strings.HasPrefix(d, root+string(filepath.Separator)); d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
			_ = os.Chmod(d, fi.Mode().Perm()|0o755)
		}
	}
	sweepStale()
	t.Cleanup(l.teardown)
	inet, err := l.addNamespace("inet")
	if err != nil {
		// The first namespace shows whether this machine allows them at
		// all (containers without CAP_SYS_ADMIN do not).
		unavailable(t, "cannot create a network namespace: %v", err)
	}
	l.inet = inet
	l.mustIP(inet, "link", "add", "br0", "type", "bridge")
	l.mustIP(inet, "link", "set", "br0", "up")
	return l
}

// Dir is a scratch directory removed after the test.
func (l *Lab) Dir() string { return l.dir }

// Prefix is the random prefix of this lab's namespace names.
func (l *Lab) Prefix() string { return l.prefix }

// T is the test the lab belongs to.
func (l *Lab) T() testing.TB { return l.t }

func (l *Lab) addNamespace(role string) (string, error) {
	name := l.prefix + "-" + role
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return "", fmt.Errorf("ip netns add %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	l.mu.Lock()
	l.namespaces = append(l.namespaces, name)
	l.mu.Unlock()
	// Point name resolution at the namespace's own loopback, where nothing
	// listens: a program that tries DNS gets a fast refusal and no query
	// heads for the host's resolver.
	etc := filepath.Join("/etc/netns", name)
	if err := os.MkdirAll(etc, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644)
	}
	// The owner mark lives outside /etc/netns/NAME, whose files ip netns
	// exec bind-mounts over /etc.
	if err := os.MkdirAll(ownerDir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(ownerDir, name), []byte(ownerID(os.Getpid())), 0o644)
	}
	l.mustIP(name, "link", "set", "lo", "up")
	// IPv6 is off so that only the lab's IPv4 plan carries traffic.
	_, _ = l.exec(name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	_, _ = l.exec(name, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
	return name, nil
}

// ownerDir holds one file per lab namespace naming the test process that
// made it.
const ownerDir = "/run/swarmscope-nslab"

// ownerID names a live process: its pid and start time, so a reused pid
// does not pass for the owner.
func ownerID(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The start time is field 22; the command name (field 2) may contain
	// spaces, so count from its closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return fmt.Sprintf("%d %s", pid, f[19])
}

// sweepStale removes labs whose test process died without its cleanup
// (killed by go test's timeout, say): their processes and namespaces. Only
// namespaces carrying this package's owner mark are touched.
func sweepStale() {
	entries, err := os.ReadDir(ownerDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		mark := filepath.Join(ownerDir, e.Name())
		b, err := os.ReadFile(mark)
		if err != nil {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(string(b), &pid); err != nil || ownerID(pid) == strings.TrimSpace(string(b)) {
			continue // malformed, or the owner still runs
		}
		out, _ := exec.Command("ip", "netns", "pids", e.Name()).Output()
		for _, f := range strings.Fields(string(out)) {
			var p int
			if _, err := fmt.Sscan(f, &p); err == nil && p > 1 {
				if proc, err := os.FindProcess(p); err == nil {
					_ = proc.Kill()
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
		_ = exec.Command("ip", "netns", "del", e.Name()).Run()
		_ = os.RemoveAll(filepath.Join("/etc/netns", e.Name()))
		_ = os.Remove(mark)
	}
}

// teardown stops every process the lab started, then every process still
// left in its namespaces (all of them children of this test), then deletes
// the namespaces, which also removes their interfaces.
func (l *Lab) teardown() {
	l.mu.Lock()
	procs := append([]*Proc(nil), l.procs...)
	names := append([]string(nil), l.namespaces...)
	l.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop()
	}
	if l.t.Failed() {
		for _, p := range procs {
			l.t.Logf("--- log of %s (%s) ---\n%s", p.Name, p.LogPath, tail(p.Output(), 4000))
		}
	}
	for _, ns := range names {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
				if p, err := os.FindProcess(pid); err == nil {
					_ = p.Kill()
				}
			}
		}
	}
	for _, ns := range names {
		// A namespace may stay busy for a moment while killed processes exit.
		for i := 0; i < 50; i++ {
			out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput()
			if err == nil || strings.Contains(string(out), "No such file") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = os.RemoveAll(filepath.Join("/etc/netns", ns))
		_ = os.Remove(filepath.Join(ownerDir, ns))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

func (l *Lab) exec(ns string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), ns, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (l *Lab) mustIP(ns string, args ...string) {
	l.t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("nslab: ip -n %s %s: %v: %s", ns, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
}

// NATKind is the behaviour of a home router.
type NATKind string

const (
	// NATPortRestricted is plain masquerade: endpoint-independent mapping
	// that keeps the source port when it can, address-and-port-dependent
	// filtering by conntrack. The classic "port-restricted cone".
	NATPortRestricted NATKind = "port-restricted"
	// NATSymmetric is masquerade with fully random ports: every new
	// destination gets a new external port.
	NATSymmetric NATKind = "symmetric"
	// NATNone routes the LAN without translation; the LAN itself is public.
	NATNone NATKind = "none"
)

// Host is one namespace with addresses.
type Host struct {
	lab  *Lab
	NS   string
	Name string
	// IPs are the host's addresses; the first is the primary one.
	IPs []netip.Addr
	// Dev is the interface that carries IPs.
	Dev string
}

// IP is the host's primary address.
func (h *Host) IP() netip.Addr { return h.IPs[0] }

// Lab is the lab the host belongs to.
func (h *Host) Lab() *Lab { return h.lab }

// Home is a home network: a router namespace and one LAN host behind it.
type Home struct {
	Name   string
	Kind   NATKind
	Router *Host // IPs[0] is the WAN (public) address
	Host   *Host // the machine behind the router
	// LANIP is the router's LAN address, the host's gateway.
	LANIP netip.Addr
	// WAN is the router's external interface name.
	WAN string
}

type pool int

const (
	poolPublic    pool = iota // public hosts: .10-.99
	poolRouter                // router WAN addresses: .100-.199
	poolLANPublic             // hosts behind a NATNone router: .200-.250
)

func (l *Lab) allocPublic(p pool) netip.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n, limit int
	switch p {
	case poolRouter:
		n, limit = l.nextRouter, 199
		l.nextRouter++
	case poolLANPublic:
		n, limit = l.nextLANPublic, 250
		l.nextLANPublic++
	default:
		n, limit = l.nextPublic, 99
		l.nextPublic++
	}
	if n > limit {
		l.t.Fatalf("nslab: public address pool exhausted")
	}
	b := PublicPrefix.Addr().As4()
	b[3] = byte(n)
	return netip.AddrFrom4(b)
}

// attach connects namespace ns to the public bridge with a veth whose inner
// end is called dev, and gives it the addresses.
func (l *Lab) attach(ns, dev string, addrs []netip.Addr) {
	l.mu.Lock()
	l.nextPort++
	port := fmt.Sprintf("p%d", l.nextPort)
	l.mu.Unlock()
	l.mustIP(ns, "link", "add", dev, "type", "veth", "peer", "name", port, "netns", l.inet)
	l.mustIP(l.inet, "link", "set", port, "master", "br0")
	l.mustIP(l.inet, "link", "set", port, "up")
	for _, a := range addrs {
		l.mustIP(ns, "addr", "add", netip.PrefixFrom(a, PublicPrefix.Bits()).String(), "dev", dev)
	}
	l.mustIP(ns, "link", "set", dev, "up")
}

// PublicHost adds a host on the public segment with n addresses (n >= 1;
// stund needs two).
func (l *Lab) PublicHost(name string, n int) *Host {
	l.t.Helper()
	if n < 1 {
		n = 1
	}
	ns, err := l.addNamespace(name)
	if err != nil {
		l.t.Fatalf("nslab: %v", err)
	}
	h := &Host{lab: l, NS: ns, Name: name, Dev: "eth0"}
	for i := 0; i < n; i++ {
		h.IPs = append(h.IPs, l.allocPublic(poolPublic))
	}
	l.attach(ns, h.Dev, h.IPs)
	return h
}

// Home adds a router on the public segment and a host behind it. With
// NATNone the host gets a public address that the router forwards without
// translation or filtering.
func (l *Lab) Home(name string, kind NATKind) *Home {
	l.t.Helper()
	rns, err := l.addNamespace(name + "-rt")
	if err != nil {
		l.t.Fatalf("nslab: %v", err)
	}
	hns, err := l.addNamespace(name)
	if err != nil {
		l.t.Fatalf("nslab: %v", err)
	}
	l.mu.Lock()
	idx := l.nextHome
	l.nextHome++
	l.mu.Unlock()

	wan := l.allocPublic(poolRouter)
	router := &Host{lab: l, NS: rns, Name: name + "-router", IPs: []netip.Addr{wan}, Dev: "wan0"}
	l.attach(rns, "wan0", router.IPs)
	l.mustIP(rns, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", hns)
	if _, err := l.exec(rns, "sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		l.t.Fatalf("nslab: %v", err)
	}
	host := &Host{lab: l, NS: hns, Name: name, Dev: "eth0"}
	home := &Home{Name: name, Kind: kind, Router: router, Host: host, WAN: "wan0"}

	if kind == NATNone {
		// No translation: the host gets its own public address and the
		// router answers ARP for it on the public side (proxy ARP), like
		// a plain routing firewall-less gateway.
		hostIP := l.allocPublic(poolLANPublic)
		host.IPs = []netip.Addr{hostIP}
		home.LANIP = wan
		l.mustIP(rns, "link", "set", "lan0", "up")
		l.mustIP(rns, "route", "add", netip.PrefixFrom(hostIP, 32).String(), "dev", "lan0")
		for _, dev := range []string{"wan0", "lan0"} {
			// Proxy ARP answers after a random delay of up to 0.8 s by
			// default, long enough for stun-client to give up on a
			// first packet; the lab wants answers at once.
			for _, kv := range []string{"net.ipv4.conf." + dev + ".proxy_arp=1", "net.ipv4.neigh." + dev + ".proxy_delay=0"} {
				if _, err := l.exec(rns, "sysctl", "-qw", kv); err != nil {
					l.t.Fatalf("nslab: %v", err)
				}
			}
		}
		l.mustIP(hns, "addr", "add", netip.PrefixFrom(hostIP, PublicPrefix.Bits()).String(), "dev", "eth0")
		l.mustIP(hns, "link", "set", "eth0", "up")
		l.mustIP(hns, "route", "replace", PublicPrefix.String(), "dev", "eth0")
		return home
	}

	lan := netip.AddrFrom4([4]byte{192, 168, byte(idx), 1})
	hostIP := netip.AddrFrom4([4]byte{192, 168, byte(idx), 2})
	home.LANIP = lan
	host.IPs = []netip.Addr{hostIP}
	l.mustIP(rns, "addr", "add", netip.PrefixFrom(lan, 24).String(), "dev", "lan0")
	l.mustIP(rns, "link", "set", "lan0", "up")
	l.mustIP(hns, "addr", "add", netip.PrefixFrom(hostIP, 24).String(), "dev", "eth0")
	l.mustIP(hns, "link", "set", "eth0", "up")
	// The host's default route ends at the router, which has no default
	// route: anything not in the lab is dropped there.
	l.mustIP(hns, "route", "add", "default", "via", lan.String())

	masq := "masquerade"
	switch kind {
	case NATPortRestricted:
	case NATSymmetric:
		masq = "masquerade random,fully-random"
	default:
		l.t.Fatalf("nslab: unknown NAT kind %q", kind)
	}
	// Unsolicited packets to the router itself are refused in the filter
	// hook. Besides being what home routers do, this keeps their conntrack
	// entries unconfirmed: a confirmed entry for an inbound holepunch
	// packet that arrives before our own outbound one would clash with
	// the outbound mapping and make masquerade pick another port.
	home.nft(`table ip nat {
  chain postrouting { type nat hook postrouting priority 100; policy accept; oifname "wan0" ` + masq + `; }
}
table inet fw {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "wan0" ct state established,related accept
    iifname "wan0" meta l4proto tcp reject with tcp reset
    iifname "wan0" reject
  }
}`)
	return home
}

// nft loads a ruleset into the router.
func (h *Home) nft(ruleset string) {
	h.Router.lab.t.Helper()
	if err := h.Router.NFT(ruleset); err != nil {
		h.Router.lab.t.Fatalf("nslab: %v", err)
	}
}

// NFT loads an nftables ruleset in the host's namespace.
func (h *Host) NFT(ruleset string) error {
	cmd := exec.Command("ip", "netns", "exec", h.NS, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft -f in %s: %w: %s", h.NS, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Command is a command that will run inside the host's namespace.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Run runs a program in the namespace and returns its combined output. It
// gives up after a minute.
func (h *Host) Run(name string, args ...string) (string, error) {
	return h.lab.exec(h.NS, name, args...)
}

// MustRun is Run that fails the test on error.
func (h *Host) MustRun(name string, args ...string) string {
	h.lab.t.Helper()
	out, err := h.Run(name, args...)
	if err != nil {
		h.lab.t.Fatalf("nslab: %v", err)
	}
	return out
}

// RateLimit caps the egress rate of one of the host's interfaces with a
// token bucket (rate like "1mbit"), e.g. to make a seeder slow enough that
// a swarm stays incomplete while the test watches it.
func (h *Host) RateLimit(dev, rate string) error {
	_, err := h.Run("tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms")
	return err
}

// Netem puts a netem qdisc with the given parameters (e.g. "loss", "5%")
// on one of the host's interfaces. Some kernels lack sch_netem; Loss works
// there too.
func (h *Host) Netem(dev string, params ...string) error {
	_, err := h.Run("tc", append([]string{"qdisc", "replace", "dev", dev, "root", "netem"}, params...)...)
	return err
}

// Loss drops pct percent of the packets the host forwards out of dev, at
// random: with tc netem where the kernel has it, else with an nftables
// numgen rule in the forward hook (the same loss, for routed traffic).
// It returns which mechanism it used.
func (h *Host) Loss(dev string, pct int) (string, error) {
	if err := h.Netem(dev, "loss", fmt.Sprintf("%d%%", pct)); err == nil {
		return "tc netem", nil
	}
	rules := fmt.Sprintf(`table inet lossy_%[1]s {
  chain forward {
    type filter hook forward priority -10; policy accept;
    oifname "%[1]s" numgen random mod 100 lt %[2]d drop
  }
}`, dev, pct)
	if err := h.NFT(rules); err != nil {
		return "", fmt.Errorf("no netem and no nftables loss on %s: %w", dev, err)
	}
	return "nftables numgen", nil
}

// ErrTimeout is returned by waits that ran out of time.
var ErrTimeout = errors.New("timed out")

// stopError makes WaitFor give up at once.
type stopError struct{ err error }

func (e stopError) Error() string { return e.err.Error() }
func (e stopError) Unwrap() error { return e.err }

// Stop wraps err so that WaitFor returns it at once instead of polling on.
func Stop(err error) error { return stopError{err} }

// WaitFor polls cond every 200 ms until it returns true or timeout passes.
// The last error cond gave is part of the timeout error; an error made with
// Stop ends the wait at once.
func WaitFor(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		var se stopError
		if errors.As(err, &se) {
			return se.err
		}
		last = err
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("%w after %v: %w", ErrTimeout, timeout, last)
			}
			return fmt.Errorf("%w after %v", ErrTimeout, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
