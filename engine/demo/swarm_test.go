package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine"
	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
)

// testLog collects log lines for printing when a test fails.
type testLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startSwarm(t *testing.T, opts Options) *Swarm {
	t.Helper()
	var lg io.Writer = &testLog{}
	if os.Getenv("DEMO_VERBOSE") != "" {
		lg = os.Stderr
		opts.ClientLog = os.Stderr
	}
	opts.Log = lg
	if opts.Tick == 0 {
		opts.Tick = 250 * time.Millisecond
	}
	s, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if tl, ok := lg.(*testLog); ok {
				t.Log(tl.String())
			}
			t.Log(s.Describe())
			t.Logf("datagrams: %+v", s.Net.Stats())
		}
		s.Close()
	})
	return s
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func peersOf(e *engine.Engine, ih string) []swarm.PeerInfo {
	for _, t := range e.Latest().Torrents {
		if t.InfoHash == ih {
			return t.PeerList
		}
	}
	return nil
}

func describePeers(ps []swarm.PeerInfo) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%s:%s/%s", p.Addr, p.Origin, p.Discovery))
	}
	return strings.Join(parts, " ")
}

func TestDefaultDemoCompletes(t *testing.T) {
	s := startSwarm(t, Options{Nodes: Default(nat.TypePortRestrictedCone, true, 4), You: "you", Size: 32 << 20, Seed: 1})
	ye := collect(s.You.Engine)
	defer func() { t.Logf("you events:\n%s", ye) }()
	// Every origin shows up: the flatmate inbound, seeders outbound, home
	// peers holepunched, and the latecomer through UPnP (it may arrive
	// after you have finished; you go on seeding).
	var seen swarm.OriginCounts
	waitUntil(t, "peers of every origin", 3*time.Minute, func() bool {
		for _, p := range peersOf(s.You.Engine, s.InfoHash) {
			seen.Add(p.Origin, 1)
		}
		for _, o := range swarm.AllOrigins() {
			if seen.Get(o) == 0 {
				return false
			}
		}
		return true
	})
	waitUntil(t, "you to complete", 3*time.Minute, s.Complete)
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
	t.Log(describePeers(peersOf(s.You.Engine, s.InfoHash)))
}

// collect drains an engine's events into a slice the test can inspect.
type collector struct {
	mu  sync.Mutex
	evs []swarm.Event
}

func collect(e *engine.Engine) *collector {
	c := &collector{}
	go func() {
		for ev := range e.Events() {
			c.mu.Lock()
			c.evs = append(c.evs, ev)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) find(kind swarm.EventKind, peer string) (swarm.Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range c.evs {
		if ev.Kind == kind && (peer == "" || strings.HasPrefix(ev.Peer, peer)) {
			return ev, true
		}
	}
	return swarm.Event{}, false
}

func (c *collector) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, ev := range c.evs {
		fmt.Fprintf(&b, "%s %s peer=%s via=%s %s\n", ev.Time.Format("15:04:05.000"), ev.Kind, ev.Peer, ev.Via, ev.Message)
	}
	return b.String()
}

func peerWith(e *engine.Engine, ih string, addr string) (swarm.PeerInfo, bool) {
	for _, p := range peersOf(e, ih) {
		if strings.HasPrefix(p.Addr, addr) {
			return p, true
		}
	}
	return swarm.PeerInfo{}, false
}

func TestHolepunchBetweenPortRestrictedCones(t *testing.T) {
	s := startSwarm(t, Options{
		Nodes: []NodeSpec{
			{Name: "relay", NAT: nat.TypeOpen, Stage: 0},
			{Name: "alice", NAT: nat.TypePortRestrictedCone, Seeder: true, Stage: 1},
			{Name: "you", NAT: nat.TypePortRestrictedCone, Stage: 2},
		},
		You: "you", Size: 8 << 20, Seed: 2,
		// Alice must not learn "you" from the directory before the
		// holepunch: both dialing at once would be an uncoordinated
		// simultaneous open, not a BEP 55 holepunch.
		AnnounceEvery: 5 * time.Minute,
	})
	alice, you := s.Node("alice"), s.Node("you")
	ae, ye := collect(alice.Engine), collect(you.Engine)
	defer func() {
		if t.Failed() {
			t.Logf("alice events:\n%s\nyou events:\n%s", ae, ye)
		}
	}()
	var py, pa swarm.PeerInfo
	waitUntil(t, "a holepunched connection on both ends", 2*time.Minute, func() bool {
		var ok1, ok2 bool
		py, ok1 = peerWith(you.Engine, s.InfoHash, alice.PublicAddr().Addr().String())
		pa, ok2 = peerWith(alice.Engine, s.InfoHash, you.PublicAddr().Addr().String())
		return ok1 && ok2
	})
	if py.Origin != swarm.OriginHolepunched || pa.Origin != swarm.OriginHolepunched {
		t.Fatalf("you sees alice as %s, alice sees you as %s; want holepunched on both ends", py.Origin, pa.Origin)
	}
	waitUntil(t, "pieces over the holepunched path", 2*time.Minute, func() bool {
		snap := you.Engine.Latest()
		return snap.Path(swarm.OriginHolepunched).DownBytes > 0
	})
	if _, ok := ye.find(swarm.EventHolepunchSucceeded, ""); !ok {
		t.Errorf("no holepunch-succeeded event on you's side")
	}
	waitUntil(t, "you to complete", 3*time.Minute, s.Complete)
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestHolepunchSymmetricAgainstPortRestricted(t *testing.T) {
	s := startSwarm(t, Options{
		Nodes: []NodeSpec{
			{Name: "relay", NAT: nat.TypeOpen, Seeder: true, Stage: 0},
			{Name: "sym", NAT: nat.TypeSymmetric, Stage: 1},
			{Name: "you", NAT: nat.TypePortRestrictedCone, Stage: 2},
		},
		You: "you", Size: 32 << 20, Seed: 3,
	})
	sym, you := s.Node("sym"), s.Node("you")
	ye := collect(you.Engine)
	se := collect(sym.Engine)
	defer func() {
		if t.Failed() {
			t.Logf("sym events:\n%s\nyou events:\n%s", se, ye)
		}
	}()
	target := sym.Router.PublicIP().String()
	waitUntil(t, "a holepunch attempt towards the symmetric peer", 2*time.Minute, func() bool {
		_, ok1 := ye.find(swarm.EventHolepunchConnect, target)
		_, ok2 := se.find(swarm.EventHolepunchConnect, "")
		return ok1 || ok2
	})
	var failed swarm.Event
	waitUntil(t, "the holepunch to be reported failed", 2*time.Minute, func() bool {
		var ok bool
		if failed, ok = ye.find(swarm.EventHolepunchFailed, target); ok {
			return true
		}
		failed, ok = se.find(swarm.EventHolepunchFailed, "")
		return ok
	})
	if !strings.Contains(failed.Message, "failed") {
		t.Errorf("failure event says %q", failed.Message)
	}
	if p, ok := peerWith(you.Engine, s.InfoHash, target); ok {
		t.Errorf("you connected to the symmetric peer anyway: %+v", p)
	}
}

func TestMatrixMatchesTheory(t *testing.T) {
	if testing.Short() {
		t.Skip("the matrix runs dozens of swarms")
	}
	m, err := RunMatrix(context.Background(), MatrixOptions{Seed: 1, Parallel: 3})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	m.WriteText(&b)
	if m.Mismatches != 0 {
		t.Fatalf("matrix differs from theory:\n%s", b.String())
	}
	t.Logf("\n%s", b.String())
}

func TestUPnPLetsAnOutsidePeerIn(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("upnp=%v", on), func(t *testing.T) {
			s := startSwarm(t, Options{
				Nodes: []NodeSpec{
					{Name: "you", NAT: nat.TypePortRestrictedCone, UPnP: on, Seeder: true, Stage: 0},
					{Name: "outsider", NAT: nat.TypeOpen, Stage: 1},
				},
				You: "you", Size: 2 << 20, Seed: 4,
				// "you" announces once, before the outsider exists, so
				// only the outsider can dial.
				AnnounceEvery: 5 * time.Minute,
			})
			you, out := s.Node("you"), s.Node("outsider")
			if on {
				var p swarm.PeerInfo
				waitUntil(t, "the outsider to connect in", 2*time.Minute, func() bool {
					var ok bool
					p, ok = peerWith(you.Engine, s.InfoHash, out.Addr().Addr().String())
					return ok
				})
				if p.Origin != swarm.OriginUPnP {
					t.Fatalf("outsider labelled %s, want upnp", p.Origin)
				}
				if f := you.Router.Forwards(); len(f) != 1 || f[0].ExternalPort != uint16(you.Port) {
					t.Fatalf("router forwards %+v", f)
				}
				return
			}
			// Without a mapping the outsider's dial must fail: give it
			// several dial timeouts.
			time.Sleep(15 * time.Second)
			if p, ok := peerWith(you.Engine, s.InfoHash, out.Addr().Addr().String()); ok {
				t.Fatalf("outsider got in without UPnP: %+v", p)
			}
			if len(you.Router.Forwards()) != 0 {
				t.Fatal("forwards without UPnP")
			}
		})
	}
}

// TestHeadlessDemoEveryNATMode runs the default demo to completion for each
// of "you"'s NAT types and verifies the data. DEMO_RUNS (default 1) repeats
// every mode, for the no-stall stress run: DEMO_RUNS=20.
func TestHeadlessDemoEveryNATMode(t *testing.T) {
	runs := 1
	if v := os.Getenv("DEMO_RUNS"); v != "" {
		if _, err := fmt.Sscan(v, &runs); err != nil || runs < 1 {
			t.Fatalf("DEMO_RUNS=%q", v)
		}
	}
	modes := []nat.Type{nat.TypeOpen, nat.TypeFullCone, nat.TypeRestrictedCone, nat.TypePortRestrictedCone,
		nat.TypeSymmetric, nat.TypeSymmetricFirewall, nat.TypeUDPBlocked}
	for run := range runs {
		for i, mode := range modes {
			upnpOn := (run+i)%2 == 0
			t.Run(fmt.Sprintf("%d/%s/upnp=%v", run, mode, upnpOn), func(t *testing.T) {
				s := startSwarm(t, Options{Nodes: Default(mode, upnpOn, 4), You: "you", Size: 8 << 20, Seed: uint64(1000*run + i + 1)})
				waitUntil(t, "you to complete", 4*time.Minute, s.Complete)
				if err := s.Verify(); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
