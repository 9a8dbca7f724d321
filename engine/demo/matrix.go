package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
)

// Connection kinds the matrix measures between two peers A and B.
const (
	KindDirect    = "direct"    // A dials B
	KindReverse   = "reverse"   // B dials A
	KindUPnP      = "upnp"      // A dials B, B has a UPnP mapping
	KindUPnPRev   = "upnp-rev"  // B dials A, A has a UPnP mapping
	KindHolepunch = "holepunch" // A and B meet through a public relay (BEP 55)
)

// MatrixKinds lists the columns in display order.
var MatrixKinds = []string{KindDirect, KindReverse, KindUPnP, KindUPnPRev, KindHolepunch}

// MatrixTypes are the NAT types the matrix pairs by default.
var MatrixTypes = []nat.Type{nat.TypeOpen, nat.TypeFullCone, nat.TypeRestrictedCone, nat.TypePortRestrictedCone, nat.TypeSymmetric}

// Cell is one measured connection kind of one pair.
type Cell struct {
	Kind string `json:"kind"`
	// Applicable is false where the kind makes no sense (UPnP on an open
	// host; a holepunch where a plain dial already works: anacrolix only
	// asks a relay after a dial failed).
	Applicable bool   `json:"applicable"`
	Theory     bool   `json:"theory"`
	Measured   bool   `json:"measured"`
	Match      bool   `json:"match"`
	Why        string `json:"why"`              // the theory's reason
	Detail     string `json:"detail,omitempty"` // what was observed
}

// Row is one pair of NAT types.
type Row struct {
	A     nat.Type `json:"a"`
	B     nat.Type `json:"b"`
	Cells []Cell   `json:"cells"`
}

// Matrix is the result of RunMatrix.
type Matrix struct {
	Rows       []Row   `json:"rows"`
	Mismatches int     `json:"mismatches"`
	ElapsedS   float64 `json:"elapsed_s"`
}

// MatrixOptions configures RunMatrix.
type MatrixOptions struct {
	Types    []nat.Type // default MatrixTypes
	Seed     uint64
	Parallel int // experiments at once (default 2)
	Log      io.Writer
	// Wait bounds how long a connection may take to form before the cell
	// counts as failed (default 12 s for dials, twice that for holepunches).
	Wait time.Duration
	// Progress, if set, is called after each experiment.
	Progress func(done, total int)
}

// unsolicited reports whether a NAT type lets an unsolicited datagram in.
func unsolicited(t nat.Type) bool { return t == nat.TypeOpen || t == nat.TypeFullCone }

// Theory says whether a connection kind should form between A and B
// (RFC 4787 filtering, RFC 5128 section 3.3 UDP hole punching), given that
// every cone NAT here preserves ports and peers announce their local port.
func Theory(kind string, a, b nat.Type) (applicable, ok bool, why string) {
	switch kind {
	case KindDirect:
		if b == nat.TypeOpen {
			return true, true, "B has a public address and no filter"
		}
		if unsolicited(b) {
			return true, true, "a full cone admits anyone to a live mapping"
		}
		return true, false, fmt.Sprintf("%s filters packets from endpoints it has not sent to", b)
	case KindReverse:
		return Theory(KindDirect, b, a)
	case KindUPnP:
		if b == nat.TypeOpen {
			return false, false, "no NAT to map"
		}
		return true, true, "the port mapping forwards every packet to B"
	case KindUPnPRev:
		return Theory(KindUPnP, b, a)
	case KindHolepunch:
		if unsolicited(a) || unsolicited(b) {
			return false, false, "a plain dial already works, so no rendezvous is asked for"
		}
		sym := func(t nat.Type) bool { return t == nat.TypeSymmetric }
		switch {
		case sym(a) && sym(b):
			return true, false, "both NATs pick a new port per destination: neither side can aim at the other's mapping"
		case sym(a) || sym(b):
			other := a
			if sym(a) {
				other = b
			}
			if other == nat.TypePortRestrictedCone {
				return true, false, "the symmetric side arrives from a fresh port the port-restricted side never sent to"
			}
			return true, true, fmt.Sprintf("the %s side opened its filter to the symmetric side's address, so any port of it gets in", other)
		}
		return true, true, "both sides have endpoint-independent mappings at the announced port; simultaneous sends open both filters"
	}
	return false, false, "unknown kind"
}

type experiment struct {
	row, col int
	kind     string
	a, b     nat.Type
}

// RunMatrix measures every pair of types on fresh simulated swarms.
func RunMatrix(ctx context.Context, o MatrixOptions) (*Matrix, error) {
	start := time.Now()
	if len(o.Types) == 0 {
		o.Types = MatrixTypes
	}
	if o.Parallel <= 0 {
		o.Parallel = 2
	}
	if o.Wait <= 0 {
		o.Wait = 12 * time.Second
	}
	for _, t := range o.Types {
		switch t {
		case nat.TypeOpen, nat.TypeFullCone, nat.TypeRestrictedCone, nat.TypePortRestrictedCone, nat.TypeSymmetric:
		default:
			return nil, fmt.Errorf("demo: the matrix does not pair %q", t)
		}
	}
	m := &Matrix{}
	var exps []experiment
	for i, a := range o.Types {
		for _, b := range o.Types[i:] {
			row := Row{A: a, B: b}
			for _, kind := range MatrixKinds {
				app, ok, why := Theory(kind, a, b)
				row.Cells = append(row.Cells, Cell{Kind: kind, Applicable: app, Theory: ok, Why: why})
				if app {
					exps = append(exps, experiment{row: len(m.Rows), col: len(row.Cells) - 1, kind: kind, a: a, b: b})
				}
			}
			m.Rows = append(m.Rows, row)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, o.Parallel)
	done := 0
	var firstErr error
	for i, x := range exps {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil, ctx.Err()
		case sem <- struct{}{}:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ok, detail, err := runExperiment(ctx, x, o.Seed+uint64(i)*7919, o)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil && ctx.Err() == nil {
				firstErr = err
			}
			c := &m.Rows[x.row].Cells[x.col]
			c.Measured, c.Detail = ok, detail
			done++
			if o.Progress != nil {
				o.Progress(done, len(exps))
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if firstErr != nil {
		return nil, firstErr
	}
	for i := range m.Rows {
		for j := range m.Rows[i].Cells {
			c := &m.Rows[i].Cells[j]
			c.Match = !c.Applicable || c.Theory == c.Measured
			if !c.Match {
				m.Mismatches++
			}
		}
	}
	m.ElapsedS = time.Since(start).Seconds()
	return m, nil
}

// runExperiment builds the smallest swarm that isolates one connection
// kind and reports whether that connection formed.
func runExperiment(ctx context.Context, x experiment, seed uint64, o MatrixOptions) (bool, string, error) {
	dialer, target := x.a, x.b
	upnpOn := false
	switch x.kind {
	case KindReverse:
		dialer, target = x.b, x.a
	case KindUPnP:
		upnpOn = true
	case KindUPnPRev:
		dialer, target = x.b, x.a
		upnpOn = true
	}
	opts := Options{Size: 256 << 10, Seed: seed, NoDirectory: true, Tick: 250 * time.Millisecond, Log: o.Log}
	wait := o.Wait
	if x.kind == KindHolepunch {
		// The relay must know the target before the initiator arrives,
		// and the initiator learns the target only from the relay's PEX.
		opts.Nodes = []NodeSpec{
			{Name: "relay", NAT: nat.TypeOpen, Seeder: true, Stage: 0},
			{Name: "b", NAT: target, Stage: 1, Bootstrap: []string{"relay"}},
			{Name: "a", NAT: dialer, Stage: 2, Bootstrap: []string{"relay"}},
		}
		wait *= 2
	} else {
		// B talks to a public peer first, as a real client's socket talks
		// to trackers and the DHT: a NAT only forwards to a live mapping,
		// even a full cone.
		opts.Nodes = []NodeSpec{
			{Name: "anchor", NAT: nat.TypeOpen, Seeder: true, Stage: 0},
			{Name: "b", NAT: target, UPnP: upnpOn, Seeder: true, Stage: 1, Bootstrap: []string{"anchor"}},
			{Name: "a", NAT: dialer, Stage: 2, Bootstrap: []string{"b"}},
		}
		// B must be connected to the anchor before A dials; A's own stage
		// is the measurement, so Start need not wait for it.
	}
	opts.You = "a"
	s, err := Start(ctx, opts)
	if err != nil {
		return false, "", err
	}
	defer s.Close()
	a, b := s.Node("a"), s.Node("b")
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if p, ok := peerAt(a, b); ok {
			want := swarm.OriginOutbound
			if x.kind == KindHolepunch {
				want = swarm.OriginHolepunched
			}
			if p.Origin != want {
				return false, fmt.Sprintf("connected, but as %s", p.Origin), nil
			}
			return true, fmt.Sprintf("%s %s", p.Origin, p.Addr), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false, fmt.Sprintf("no connection within %s", wait), nil
}

// peerAt finds b in a's peer list.
func peerAt(a, b *Node) (swarm.PeerInfo, bool) {
	for _, t := range a.Engine.Latest().Torrents {
		for _, p := range t.PeerList {
			if strings.HasPrefix(p.Addr, b.PublicAddr().Addr().String()+":") {
				return p, true
			}
		}
	}
	return swarm.PeerInfo{}, false
}

// WriteText prints the matrix as a table with theory next to measurement.
func (m *Matrix) WriteText(w io.Writer) {
	short := map[nat.Type]string{
		nat.TypeOpen: "open", nat.TypeFullCone: "full-cone", nat.TypeRestrictedCone: "restricted",
		nat.TypePortRestrictedCone: "port-restr", nat.TypeSymmetric: "symmetric",
	}
	fmt.Fprintf(w, "%-11s %-11s", "A", "B")
	for _, k := range MatrixKinds {
		fmt.Fprintf(w, " %-11s", k)
	}
	fmt.Fprintln(w)
	for _, r := range m.Rows {
		fmt.Fprintf(w, "%-11s %-11s", short[r.A], short[r.B])
		for _, c := range r.Cells {
			fmt.Fprintf(w, " %-11s", cellText(c))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "each cell: measured/theory (yes, no); - = not applicable; ! = measurement differs from theory")
	fmt.Fprintln(w, "direct: A dials B; reverse: B dials A; upnp: A dials B through B's UPnP mapping (upnp-rev: the other way);")
	fmt.Fprintln(w, "holepunch: A and B meet through a public relay's ut_holepunch rendezvous (only tried when no plain dial works)")
	if m.Mismatches == 0 {
		fmt.Fprintf(w, "all cells match RFC 4787/5128 theory (%.0fs)\n", m.ElapsedS)
	} else {
		fmt.Fprintf(w, "%d cell(s) differ from theory:\n", m.Mismatches)
		for _, r := range m.Rows {
			for _, c := range r.Cells {
				if !c.Match {
					fmt.Fprintf(w, "  %s vs %s %s: measured %s, theory %s (%s; observed: %s)\n", r.A, r.B, c.Kind, yesNo(c.Measured), yesNo(c.Theory), c.Why, c.Detail)
				}
			}
		}
	}
}

func cellText(c Cell) string {
	if !c.Applicable {
		return "-"
	}
	s := yesNo(c.Measured) + "/" + yesNo(c.Theory)
	if !c.Match {
		s += " !"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
