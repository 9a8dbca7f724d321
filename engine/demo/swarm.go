// Package demo runs a BitTorrent swarm on the simulated internet of
// nat/natlab: real engine instances (one anacrolix client each) over uTP on
// simulated UDP, behind simulated NATs. Connections form or fail only because
// the NATs allow or forbid them; holepunches are the real ut_holepunch
// exchange relayed by a public peer; "you"'s UPnP mapping is made by the real
// nat/upnp client against a simulated gateway.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/swarmscope/swarmscope/engine"
	"github.com/swarmscope/swarmscope/engine/maketorrent"
	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/nat/natlab"
	"github.com/swarmscope/swarmscope/nat/natlab/igd"
	"github.com/swarmscope/swarmscope/nat/portmap"
	"github.com/swarmscope/swarmscope/nat/portmap/portmaptype"
	"github.com/swarmscope/swarmscope/nat/upnp"
)

// NodeSpec describes one simulated peer.
type NodeSpec struct {
	Name string
	// NAT is the classic type of the peer's router; TypeOpen puts the peer
	// on the public internet, TypeSymmetricFirewall behind a filtering
	// firewall with a public address.
	NAT nat.Type
	// UPnP gives the router a UPnP gateway and has the peer map its port.
	UPnP bool
	// Seeder peers start with the complete data.
	Seeder bool
	// LANOf puts the peer on the LAN of the named peer instead of behind a
	// router of its own (NAT is then ignored).
	LANOf string
	// Stage orders start-up: a stage starts once the previous one is
	// connected, so relays already know the targets when an initiator
	// arrives (PEX is sent right after the handshake, then once a minute).
	Stage int
	// Link is the peer's access link; zero gets the default for its kind.
	Link natlab.LinkConfig
	// Port is the listen port; 0 picks 6881 + index.
	Port int
	// Bootstrap names the peers this node is told about at start when
	// Options.NoDirectory is set.
	Bootstrap []string
	// LANOnly peers find others by local discovery only and never
	// announce to the directory, so relays never learn their hairpinned
	// public address and introduce "you" to your own router.
	LANOnly bool
	// Delay postpones the node's start after its stage begins.
	Delay time.Duration
	// NoPEX turns peer exchange off for this node, so it learns peers only
	// from the directory (or a holepunch Connect).
	NoPEX bool
}

// Options configures a swarm.
type Options struct {
	// Nodes is the topology. Exactly one node must be named by You.
	Nodes []NodeSpec
	You   string
	// Size of the demo torrent in bytes (default 16 MiB).
	Size int64
	// Seed makes content, port allocation and NAT choices reproducible.
	Seed uint64
	// Dir holds every peer's data; "" uses a temporary directory removed
	// on Close.
	Dir string
	// Log receives the demo's progress lines; nil discards them.
	Log io.Writer
	// ClientLog receives the BitTorrent clients' warnings; nil discards them.
	ClientLog io.Writer
	// OnProgress, if set, receives the same progress messages as Log,
	// without timestamps (the TUI shows them as events while the world is
	// being built).
	OnProgress func(msg string)
	// Tick is the engines' snapshot interval (default 1 s).
	Tick time.Duration
	// AnnounceEvery is the directory announce interval (default 30 s).
	// Peers that are already running learn a newcomer only at their next
	// announce, so the newcomer's own dials (and holepunches) come first,
	// as with a real tracker's interval of minutes.
	AnnounceEvery time.Duration
	// StageTimeout bounds the wait for one stage to connect (default 20 s).
	StageTimeout time.Duration
	// NoDirectory turns the directory and local discovery off: each node
	// knows only its Bootstrap peers (and what PEX tells it). The matrix
	// uses it to control exactly who dials whom.
	NoDirectory bool
}

// Default is the demo topology: two public seeders that also relay
// holepunches, homePeers seeders behind NATs of every classic kind (cycling
// full cone, restricted cone, port-restricted cone, symmetric), "you" behind
// youNAT with or without UPnP, a flatmate seeding on your LAN (found by local
// discovery; absent when you have a public address), and a public leecher
// that arrives ten seconds after you.
func Default(youNAT nat.Type, withUPnP bool, homePeers int) []NodeSpec {
	nodes := []NodeSpec{
		{Name: "seed-1", NAT: nat.TypeOpen, Seeder: true, Stage: 0},
		{Name: "seed-2", NAT: nat.TypeOpen, Seeder: true, Stage: 0},
	}
	kinds := []nat.Type{nat.TypeFullCone, nat.TypeRestrictedCone, nat.TypePortRestrictedCone, nat.TypeSymmetric}
	for i := range homePeers {
		k := kinds[i%len(kinds)]
		// Without PEX a home peer cannot learn your address from its
		// other peers while you are still dialing it, and dial you
		// through your UPnP mapping first: you meet it by holepunch.
		nodes = append(nodes, NodeSpec{Name: fmt.Sprintf("home-%d", i+1), NAT: k, Seeder: true, NoPEX: true, Stage: 1})
	}
	nodes = append(nodes, NodeSpec{Name: "you", NAT: youNAT, UPnP: withUPnP, Stage: 2})
	if youNAT != nat.TypeOpen && youNAT != nat.TypeSymmetricFirewall {
		nodes = append(nodes, NodeSpec{Name: "flatmate", LANOf: "you", Seeder: true, LANOnly: true, Stage: 1})
	}
	// A public leecher that arrives after "you" learns your address from
	// the directory before you learn its, so it is the one that dials: in
	// through the UPnP mapping when there is one, else by holepunch.
	// It waits until "you" has made its own holepunches: arriving at once,
	// it would punch through to the home peers first and its PEX would
	// hand them your address, so they would dial you instead.
	nodes = append(nodes, NodeSpec{Name: "latecomer", NAT: nat.TypeOpen, Stage: 3, Delay: 10 * time.Second})
	return nodes
}

// Node is one running peer.
type Node struct {
	Spec    NodeSpec
	Host    *natlab.Host
	Router  *natlab.NAT // nil on the public internet
	Engine  *engine.Engine
	Gateway *igd.Gateway
	Mapper  *portmap.Mapper
	Port    int
	Dir     string
	conn    net.PacketConn
}

// Name is the node's name.
func (n *Node) Name() string { return n.Spec.Name }

// Addr is the node's own address and listen port.
func (n *Node) Addr() netip.AddrPort { return netip.AddrPortFrom(n.Host.Addr(), uint16(n.Port)) }

// PublicAddr is where the public internet sees the node's listen port, as
// far as the topology alone says (the NAT may still pick another port).
func (n *Node) PublicAddr() netip.AddrPort {
	if n.Router != nil && n.Router.PublicIP().IsValid() {
		return netip.AddrPortFrom(n.Router.PublicIP(), uint16(n.Port))
	}
	return n.Addr()
}

// Swarm is a running demo.
type Swarm struct {
	opts     Options
	Net      *natlab.Internet
	Nodes    []*Node
	You      *Node
	InfoHash string
	Torrent  maketorrent.Result
	STUN     [2]netip.AddrPort // primary address of the STUN server, and its other address
	DirAddr  netip.AddrPort

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	tmpDir  string
	byName  map[string]*Node
	logMu   sync.Mutex
	closeMu sync.Mutex
	closed  bool
	// starterDone is closed when the stages after "you"'s have started
	// (or given up); nodes' engines are not touched by Close before.
	starterDone chan struct{}
}

func (s *Swarm) logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if s.opts.OnProgress != nil {
		s.opts.OnProgress(msg)
	}
	if s.opts.Log == nil {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.opts.Log, "%s demo: %s\n", time.Now().Format("15:04:05.000"), msg)
}

// Node returns the node with the given name, or nil.
func (s *Swarm) Node(name string) *Node { return s.byName[name] }

func defaultLink(spec NodeSpec) natlab.LinkConfig {
	if spec.Link != (natlab.LinkConfig{}) {
		return spec.Link
	}
	switch {
	case spec.LANOf != "":
		// Wi-Fi in the flat: near, and faster than anything outside.
		return natlab.LinkConfig{Latency: 2 * time.Millisecond, Rate: 1 << 20}
	case spec.NAT == nat.TypeOpen && spec.Seeder:
		// A seedbox in a datacentre: far, and shared with many.
		return natlab.LinkConfig{Latency: 40 * time.Millisecond, Rate: 512 << 10}
	case spec.Seeder:
		// A home uplink: slow.
		return natlab.LinkConfig{Latency: 15 * time.Millisecond, Rate: 256 << 10}
	}
	return natlab.LinkConfig{Latency: 10 * time.Millisecond, Rate: 8 << 20}
}

// Start builds the simulated internet and starts every peer. "you" does not
// start until the earlier stages are connected (or StageTimeout passed).
func Start(ctx context.Context, opts Options) (s *Swarm, err error) {
	if err := validate(&opts); err != nil {
		return nil, err
	}
	s = &Swarm{opts: opts, Net: natlab.New(opts.Seed), byName: map[string]*Node{}}
	s.ctx, s.cancel = context.WithCancel(ctx)
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	if opts.Dir == "" {
		s.tmpDir, err = os.MkdirTemp("", "swarmscope-demo-")
		if err != nil {
			return s, fmt.Errorf("demo: %w", err)
		}
		s.opts.Dir = s.tmpDir
	}
	if err := s.buildWorld(); err != nil {
		return s, err
	}
	if err := s.makeTorrent(); err != nil {
		return s, err
	}
	stages := map[int][]*Node{}
	var order []int
	for _, n := range s.Nodes {
		if _, ok := stages[n.Spec.Stage]; !ok {
			order = append(order, n.Spec.Stage)
		}
		stages[n.Spec.Stage] = append(stages[n.Spec.Stage], n)
	}
	sort.Ints(order)
	// Stages up to the one of "you" start now; later ones (peers that
	// arrive while you watch) start in the background, so the view of
	// "you" can open at once.
	youStage := s.You.Spec.Stage
	var started []*Node
	var later []int
	for i, st := range order {
		if st > youStage {
			later = order[i:]
			break
		}
		if i > 0 {
			s.waitStage(stages[order[i-1]], started)
		}
		if err := s.startStage(stages[st]); err != nil {
			return s, err
		}
		started = append(started, stages[st]...)
	}
	s.starterDone = make(chan struct{})
	go func() {
		defer close(s.starterDone)
		prev := youStage
		for _, st := range later {
			s.waitStage(stages[prev], started)
			if err := s.startStage(stages[st]); err != nil {
				if s.ctx.Err() == nil {
					s.logf("%v", err)
				}
				return
			}
			started = append(started, stages[st]...)
			prev = st
		}
	}()
	return s, nil
}

// startStage starts a stage's nodes, each after its delay.
func (s *Swarm) startStage(nodes []*Node) error {
	for _, n := range nodes {
		if n.Spec.Delay > 0 {
			select {
			case <-time.After(n.Spec.Delay):
			case <-s.ctx.Done():
				return s.ctx.Err()
			}
		}
		if err := s.startNode(n); err != nil {
			return err
		}
	}
	return nil
}

func validate(o *Options) error {
	if len(o.Nodes) == 0 {
		return errors.New("demo: no nodes")
	}
	if o.Size <= 0 {
		o.Size = 16 << 20
	}
	if o.Size > 4<<30 {
		return fmt.Errorf("demo: size %d is more than 4 GiB", o.Size)
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.AnnounceEvery <= 0 {
		o.AnnounceEvery = 30 * time.Second
	}
	if o.StageTimeout <= 0 {
		o.StageTimeout = 20 * time.Second
	}
	names := map[string]bool{}
	for _, n := range o.Nodes {
		if n.Name == "" || names[n.Name] {
			return fmt.Errorf("demo: node name %q is empty or repeated", n.Name)
		}
		names[n.Name] = true
	}
	if !names[o.You] {
		return fmt.Errorf("demo: no node named %q", o.You)
	}
	for _, n := range o.Nodes {
		if n.LANOf != "" && !names[n.LANOf] {
			return fmt.Errorf("demo: %s joins the LAN of unknown node %q", n.Name, n.LANOf)
		}
		for _, b := range n.Bootstrap {
			if !names[b] || b == n.Name {
				return fmt.Errorf("demo: %s bootstraps from unknown node %q", n.Name, b)
			}
		}
		if n.LANOf == "" && n.NAT != nat.TypeOpen {
			if _, err := natlab.Preset(n.NAT); err != nil {
				return fmt.Errorf("demo: %s: %w", n.Name, err)
			}
		}
	}
	return nil
}

// buildWorld creates the public services and every node's host and router.
func (s *Swarm) buildWorld() error {
	pub := s.Net.Public()
	stunHost, err := pub.AddHost("stun", natlab.LinkConfig{Latency: 20 * time.Millisecond},
		netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2"))
	if err != nil {
		return err
	}
	s.STUN = [2]netip.AddrPort{netip.MustParseAddrPort("198.51.100.1:3478"), netip.MustParseAddrPort("198.51.100.2:3479")}
	if err := s.startSTUN(stunHost); err != nil {
		return err
	}
	dirHost, err := pub.AddHost("directory", natlab.LinkConfig{Latency: 20 * time.Millisecond}, netip.MustParseAddr("198.51.100.3"))
	if err != nil {
		return err
	}
	s.DirAddr = netip.AddrPortFrom(dirHost.Addr(), dirPort)
	dpc, err := dirHost.ListenPacket(s.ctx, "udp", fmt.Sprintf(":%d", dirPort))
	if err != nil {
		return err
	}
	dir := &directory{}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); dir.serve(s.ctx, dpc) }()

	// Public peers from 203.0.113.0/24 and home routers from 192.0.2.0/24,
	// so a log line says at a glance which side an address is on.
	nextPublic := netip.MustParseAddr("203.0.113.10")
	nextRouter := netip.MustParseAddr("192.0.2.10")
	lan := 0
	for i, spec := range s.opts.Nodes {
		n := &Node{Spec: spec, Port: spec.Port}
		if n.Port == 0 {
			n.Port = 6881 + i
		}
		if spec.LANOf != "" {
			continue // after its LAN exists
		}
		link := defaultLink(spec)
		switch spec.NAT {
		case nat.TypeOpen:
			n.Host, err = pub.AddHost(spec.Name, link, nextPublic)
			nextPublic = nextPublic.Next()
		default:
			cfg, _ := natlab.Preset(spec.NAT)
			cfg.Link = link
			if !cfg.Firewall {
				cfg.PublicIP = nextRouter
				nextRouter = nextRouter.Next()
				lan++
				cfg.LAN = netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(lan), 0}), 24)
			}
			n.Router, err = pub.AddNAT(spec.Name+"-router", cfg)
			if err == nil {
				n.Host, err = n.Router.AddHost(spec.Name, natlab.LinkConfig{Latency: time.Millisecond})
			}
		}
		if err != nil {
			return fmt.Errorf("demo: building %s: %w", spec.Name, err)
		}
		s.addNode(n)
	}
	for i, spec := range s.opts.Nodes {
		if spec.LANOf == "" {
			continue
		}
		owner := s.byName[spec.LANOf]
		if owner.Router == nil || owner.Router.Config().Firewall {
			return fmt.Errorf("demo: %s has no LAN for %s to join", owner.Name(), spec.Name)
		}
		n := &Node{Spec: spec, Port: spec.Port, Router: owner.Router}
		if n.Port == 0 {
			n.Port = 6881 + i
		}
		var err error
		n.Host, err = owner.Router.AddHost(spec.Name, defaultLink(spec))
		if err != nil {
			return fmt.Errorf("demo: building %s: %w", spec.Name, err)
		}
		s.addNode(n)
	}
	// Keep the configured order for display.
	sort.SliceStable(s.Nodes, func(i, j int) bool { return s.index(s.Nodes[i].Name()) < s.index(s.Nodes[j].Name()) })
	s.You = s.byName[s.opts.You]
	return nil
}

func (s *Swarm) index(name string) int {
	for i, n := range s.opts.Nodes {
		if n.Name == name {
			return i
		}
	}
	return -1
}

func (s *Swarm) addNode(n *Node) {
	s.Nodes = append(s.Nodes, n)
	s.byName[n.Name()] = n
}

func (s *Swarm) makeTorrent() error {
	spec := maketorrent.Spec{Name: "swarmscope-demo.bin", FileSizes: []int64{s.opts.Size}, PieceLength: pieceLength(s.opts.Size), Seed: s.opts.Seed}
	res, err := maketorrent.Make(filepath.Join(s.opts.Dir, "origin"), filepath.Join(s.opts.Dir, "demo.torrent"), spec)
	if err != nil {
		return fmt.Errorf("demo: making the torrent: %w", err)
	}
	s.Torrent = res
	s.InfoHash = res.InfoHash
	for _, n := range s.Nodes {
		n.Dir = filepath.Join(s.opts.Dir, n.Name())
		if n.Spec.Seeder {
			if err := shareFile(res.ContentPath, filepath.Join(n.Dir, filepath.Base(res.ContentPath))); err != nil {
				return fmt.Errorf("demo: seeding %s: %w", n.Name(), err)
			}
		}
	}
	return nil
}

// shareFile gives a seeder its copy of the content: a hard link where the
// file system allows it (seeders only read), else a real copy.
func shareFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func pieceLength(size int64) int64 {
	switch {
	case size <= 8<<20:
		return 64 << 10
	case size <= 256<<20:
		return 256 << 10
	}
	return 1 << 20
}

// startNode starts a node's engine, UPnP mapping, directory announcer and
// local discovery.
func (s *Swarm) startNode(n *Node) error {
	pc, err := n.Host.ListenPacket(s.ctx, "udp", fmt.Sprintf(":%d", n.Port))
	if err != nil {
		return fmt.Errorf("demo: %s: %w", n.Name(), err)
	}
	n.conn = pc
	e, err := engine.New(s.ctx, engine.Config{
		DataDir:    n.Dir,
		PacketConn: pc,
		NoDHT:      true,
		NoTrackers: true,
		NoPEX:      n.Spec.NoPEX,
		// engine.DefaultMaxRequestDataPerConn already avoids anacrolix's
		// request-budget deadlock, the cause of the stalls seen over uTP.
		Tick:         s.opts.Tick,
		Log:          s.opts.ClientLog,
		PeerIDPrefix: "-SS0001-",
		Tuning: engine.Tuning{
			// Simulated paths have known, short round trips: a dial
			// that has not connected in a few seconds never will, and
			// failing it early starts the holepunch rendezvous early.
			DialTimeout: 5 * time.Second,
			// Relays must stay connected to seeders behind NATs.
			KeepCompletePeers:  true,
			DropDuplicatePeers: true,
		},
	})
	if err != nil {
		return fmt.Errorf("demo: %s: %w", n.Name(), err)
	}
	n.Engine = e
	if n.Spec.UPnP && n.Router != nil && !n.Router.Config().Firewall && n.Spec.LANOf == "" {
		if err := s.startUPnP(n); err != nil {
			return err
		}
	}
	if _, err := e.AddSource(s.ctx, s.Torrent.TorrentPath); err != nil {
		return fmt.Errorf("demo: %s: %w", n.Name(), err)
	}
	s.logf("%s up at %s (%s)", n.Name(), n.Addr(), n.describe())
	if s.opts.NoDirectory {
		var boot []netip.AddrPort
		for _, name := range n.Spec.Bootstrap {
			boot = append(boot, s.byName[name].PublicAddr())
		}
		if len(boot) > 0 {
			e.AddPeers(s.InfoHash, boot)
		}
		return nil
	}
	if !n.Spec.LANOnly {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.announceLoop(n) }()
	}
	if n.Router != nil && !n.Router.Config().Firewall {
		lpc, err := n.Host.ListenPacket(s.ctx, "udp", fmt.Sprintf(":%d", lsdPort))
		if err == nil {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				runLSD(s.ctx, lpc, s.InfoHash, n.Port, s.opts.AnnounceEvery, func(p netip.AddrPort) {
					n.Engine.AddPeers(s.InfoHash, []netip.AddrPort{p})
				})
			}()
		}
	}
	return nil
}

// startUPnP gives the node's router a UPnP gateway and maps the node's
// port on it with nat/upnp, as the real client does on a home network.
func (s *Swarm) startUPnP(n *Node) error {
	var err error
	n.Gateway, err = igd.Start(n.Router)
	if err != nil {
		return fmt.Errorf("demo: %s gateway: %w", n.Name(), err)
	}
	e := n.Engine
	n.Mapper = portmap.New(portmap.Config{
		Probers:    []portmaptype.Prober{upnp.Prober(upnp.ProbeConfig{Source: upnp.DeviceURL(n.Gateway.Location()), Description: "swarmscope demo " + n.Name()})},
		Port:       n.Port,
		Protocols:  []string{"UDP"},
		InternalIP: n.Host.Addr().String(),
		OnEvent: func(ev portmaptype.Event) {
			e.Publish(swarm.Event{Time: ev.Time, Kind: swarm.EventNAT, Message: "UPnP " + string(ev.Kind) + ": " + ev.Message})
		},
	})
	e.SetUPnP(n.Mapper)
	if err := n.Mapper.Start(s.ctx); err != nil {
		s.logf("%s: UPnP mapping failed: %v", n.Name(), err)
	} else {
		s.logf("%s: UPnP mapped %s:%d -> %s", n.Name(), n.Router.PublicIP(), n.Port, n.Addr())
		e.NoteOwnAddr(netip.AddrPortFrom(n.Router.PublicIP(), uint16(n.Port)), "UPnP external address")
	}
	return nil
}

func (n *Node) describe() string {
	switch {
	case n.Spec.LANOf != "":
		return "on the LAN of " + n.Spec.LANOf
	case n.Spec.NAT == nat.TypeOpen:
		return "public"
	}
	d := string(n.Spec.NAT)
	if n.Router.PublicIP().IsValid() {
		d += " NAT " + n.Router.PublicIP().String()
	}
	if n.Spec.UPnP {
		d += ", UPnP"
	}
	return d
}

// announceLoop keeps the node registered with the directory and feeds it
// the peers the directory lists.
func (s *Swarm) announceLoop(n *Node) {
	pc, err := n.Host.ListenPacket(s.ctx, "udp", ":0")
	if err != nil {
		s.logf("%s: directory socket: %v", n.Name(), err)
		return
	}
	defer pc.Close()
	dir := net.UDPAddrFromAddrPort(s.DirAddr)
	for {
		peers, err := announceOnce(s.ctx, pc, dir, s.InfoHash, n.Port)
		if err != nil && s.ctx.Err() == nil {
			s.logf("%s: %v", n.Name(), err)
		}
		if len(peers) > 0 {
			n.Engine.AddPeers(s.InfoHash, peers)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(s.opts.AnnounceEvery):
		}
	}
}

// waitStage waits until every node of the stage has a connection to each
// started node it can reach by dialing, or the stage timeout passes. It is
// what makes relays know their targets before an initiator arrives.
func (s *Swarm) waitStage(stage, started []*Node) {
	start := time.Now()
	deadline := start.Add(s.opts.StageTimeout)
	var missing []string
	for time.Now().Before(deadline) && s.ctx.Err() == nil {
		missing = missing[:0]
		for _, n := range stage {
			if !s.seeding(n) {
				missing = append(missing, n.Name()+" verifying")
				continue
			}
			for _, m := range started {
				if m == n || !s.expectsLink(n, m) {
					continue
				}
				if !n.connectedTo(m) {
					missing = append(missing, n.Name()+"->"+m.Name())
				}
			}
		}
		if len(missing) == 0 {
			s.logf("stage ready after %s", time.Since(start).Round(time.Millisecond))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.logf("stage not fully connected after %s: %s", s.opts.StageTimeout, strings.Join(missing, ", "))
}

// expectsLink reports whether n should connect to m on its own: m is a
// public peer n learns from the directory, or one of n's bootstrap peers.
func (s *Swarm) expectsLink(n, m *Node) bool {
	if n.Spec.LANOnly || n.Router != nil && n.Router.Config().BlockUDP {
		return false // n talks to nobody outside its LAN
	}
	if s.opts.NoDirectory {
		for _, b := range n.Spec.Bootstrap {
			if b == m.Name() {
				return true
			}
		}
		return false
	}
	return m.Spec.NAT == nat.TypeOpen && m.Spec.LANOf == ""
}

func (s *Swarm) seeding(n *Node) bool {
	if !n.Spec.Seeder {
		return true
	}
	for _, t := range n.Engine.Latest().Torrents {
		if t.State == swarm.StateSeeding {
			return true
		}
	}
	return false
}

// connectedTo reports whether n has a live connection to m's public
// address (which is m's own address for public peers).
func (n *Node) connectedTo(m *Node) bool {
	for _, t := range n.Engine.Latest().Torrents {
		for _, p := range t.PeerList {
			ap, err := netip.ParseAddrPort(p.Addr)
			if err == nil && ap.Addr() == m.PublicAddr().Addr() {
				return true
			}
		}
	}
	return false
}

// Complete reports whether "you" has every piece.
func (s *Swarm) Complete() bool {
	for _, t := range s.You.Engine.Latest().Torrents {
		if t.InfoHash == s.InfoHash {
			return t.Size > 0 && t.Completed == t.Size
		}
	}
	return false
}

// Verify compares "you"'s copy with the original content.
func (s *Swarm) Verify() error {
	return maketorrent.SameContent(s.Torrent.ContentPath, filepath.Join(s.You.Dir, filepath.Base(s.Torrent.ContentPath)))
}

// Close stops every peer and service and removes a temporary directory.
func (s *Swarm) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, n := range s.Nodes {
		if n.Mapper != nil {
			n.Mapper.Close()
		}
	}
	s.cancel()
	if s.starterDone != nil {
		<-s.starterDone
	}
	for _, n := range s.Nodes {
		if n.Engine != nil {
			if err := n.Engine.Close(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", n.Name(), err))
			}
		}
		// n.conn is not closed here: the engine's uTP socket closes it
		// once its last connection is gone, and closing it earlier makes
		// anacrolix/utp log a read error.
		if n.Gateway != nil {
			n.Gateway.Close()
		}
	}
	s.wg.Wait()
	if s.tmpDir != "" {
		if err := os.RemoveAll(s.tmpDir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Describe lists the nodes, one line each.
func (s *Swarm) Describe() string {
	var b strings.Builder
	for _, n := range s.Nodes {
		fmt.Fprintf(&b, "%-10s %-21s %s\n", n.Name(), n.Addr(), n.describe())
	}
	return b.String()
}

// CheckNAT runs nat/'s real discovery from "you"'s host against the
// simulated STUN server, reading "you"'s UPnP mapper for the UPnP part, and
// tells "you"'s engine the result so holepunch failures can say why.
func (s *Swarm) CheckNAT(ctx context.Context) (nat.Report, error) {
	opts := nat.Options{
		Servers:  []string{s.STUN[0].String()},
		Listener: s.You.Host,
		Timeout:  20 * time.Second,
	}
	if s.You.Mapper != nil {
		opts.Mapper = s.You.Mapper
	} else {
		opts.NoUPnP = true
	}
	r, err := nat.Check(ctx, opts)
	if err == nil {
		s.You.Engine.SetNATType(string(r.NATType))
		if a, perr := netip.ParseAddrPort(r.PublicAddr); perr == nil {
			s.You.Engine.NoteOwnAddr(a, "STUN")
		}
	}
	return r, err
}
