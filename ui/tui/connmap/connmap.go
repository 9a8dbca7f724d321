// Package connmap draws the connectivity map: you, your NAT or router, and
// the internet, with one line per origin crossing the router and carrying
// its live peer count and rates, and recent holepunches listed under it. It
// is the one picture that explains a swarm's connectivity to a newcomer.
package connmap

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/natreport"
	"github.com/swarmscope/swarmscope/ui/text"
	"github.com/swarmscope/swarmscope/ui/tui/render"
)

// RecentWindow is how long a holepunch stays on the map.
const RecentWindow = 60 * time.Second

// Input is everything the map shows.
type Input struct {
	Snapshot *swarm.Snapshot
	Report   *nat.Report
	Events   []swarm.Event // oldest first; holepunch events are picked out
	Loc      *time.Location
	// NATRunning says a diagnosis is under way (shown while Report is nil).
	NATRunning bool
}

// geometry of the drawing, chosen from the width.
type geometry struct {
	youW, gap1, wallW, gap2, labelW int
	compact                         bool
	peak                            float64 // common sparkline scale
}

func layout(w int) geometry {
	g := geometry{youW: 22, gap1: 6, wallW: 26, gap2: 10}
	if w < 110 {
		g = geometry{youW: 20, gap1: 2, wallW: 22, gap2: 3, compact: true}
	}
	g.labelW = w - g.youW - g.gap1 - g.wallW - g.gap2
	return g
}

// rows: a line per origin every other row, text rows between them.
const (
	firstLine = 2 // row (inside the boxes) of the first origin line
	boxRows   = 2 + 2*swarm.NumOrigins + 1
)

// Lines draws the map in w x h.
func Lines(th *styles.Theme, in Input, w, h int) []string {
	if in.Loc == nil {
		in.Loc = time.Local
	}
	snap := in.Snapshot
	if snap == nil {
		snap = &swarm.Snapshot{}
	}
	g := layout(w)
	g.peak = sharedPeak(snap, g.labelW)
	recent := recentHolepunches(in.Events, snap.Time)

	var out []string
	// Column headings.
	head := render.Center(th.Title.Render("YOU"), g.youW) + render.Spaces(g.gap1) +
		render.Center(th.Title.Render(natHeading(in.Report)), g.wallW) + render.Spaces(g.gap2) +
		th.Title.Render("THE INTERNET") + th.Subtle.Render("  "+plural(countPeers(snap), "peer"))
	out = append(out, render.Fit(head, w))

	youText := map[int]string{
		1: th.Bold.Render(text.OrDash(snap.ListenAddr)),
		3: th.Good.Render("↓ " + text.Rate(snap.DownBps)),
		5: th.Accent.Render("↑ " + text.Rate(snap.UpBps)),
		7: th.Subtle.Render(plural(len(snap.Torrents), "torrent")),
	}
	wallText := natText(th, in.Report, in.NATRunning)

	for row := 0; row < boxRows; row++ {
		var sb strings.Builder
		// YOU box.
		switch {
		case row == 0:
			sb.WriteString(th.Border.Render("╭" + strings.Repeat("─", g.youW-2) + "╮"))
		case row == boxRows-1:
			sb.WriteString(th.Border.Render("╰" + strings.Repeat("─", g.youW-2) + "╯"))
		default:
			edge := "│"
			if originAt(row) >= 0 {
				edge = "├"
			}
			pad := " "
			if g.compact {
				pad = ""
			}
			sb.WriteString(th.Border.Render("│") + render.Fit(pad+youText[row], g.youW-2) + th.Border.Render(edge))
		}
		oi := originAt(row)
		if oi < 0 {
			// Between lines: the router's walls with its description.
			sb.WriteString(render.Spaces(g.gap1))
			switch {
			case row == 0:
				sb.WriteString(th.Border.Render("┏" + strings.Repeat("━", g.wallW-2) + "┓"))
			case row == boxRows-1:
				sb.WriteString(th.Border.Render("┗" + strings.Repeat("━", g.wallW-2) + "┛"))
			default:
				sb.WriteString(th.Border.Render("┃") + render.Center(wallText[row], g.wallW-2) + th.Border.Render("┃"))
			}
			if row == hpRow+1 {
				// The newest holepunch hangs under the holepunch line.
				sb.WriteString(render.Spaces(g.gap2) + lastPunch(th, recent, snap.Time))
			}
			out = append(out, render.Fit(sb.String(), w))
			continue
		}
		o := swarm.AllOrigins()[oi]
		sb.WriteString(originLine(th, g, o, snap, in.Report, recent))
		out = append(out, render.Fit(sb.String(), w))
	}

	out = append(out, "")
	out = append(out, " "+render.Legend(th)+th.Faint.Render("   arrows: who dialed whom"))
	if in.Report != nil {
		verdict := in.Report.Reachable.Verdict.Text()
		if a := in.Report.Reachable.Advice; a != "" {
			verdict += " — " + a
		}
		for i, l := range text.Wrap(verdict, w-2) {
			if i == 0 {
				out = append(out, " "+th.Level(int(in.Report.Reachable.Verdict.Grade())).Render(l))
			} else {
				out = append(out, " "+th.Subtle.Render(l))
			}
		}
	}

	// Optional sections by priority: the holepunch list, then a chart of
	// each path over the whole history, then what each line means.
	punches := holepunchLines(th, recent, snap.Time, in.Loc)
	chart := historyChart(th, snap, w)
	var explain []string
	explain = append(explain, "")
	for _, o := range swarm.AllOrigins() {
		explain = append(explain, "  "+render.Origin(th, o).Render(o.Info().Glyph+" "+render.Fit(string(o), 12))+th.Subtle.Render(o.Info().Explain))
	}
	room := h - len(out)
	if len(punches) > room {
		punches = punches[:max(room, 0)]
		if room < 3 {
			punches = nil // a heading without entries says nothing
		}
	}
	room -= len(punches)
	if len(chart) > room {
		chart = nil
	} else {
		room -= len(chart)
	}
	if len(explain) > room {
		explain = nil
	}
	out = append(out, chart...)
	out = append(out, explain...)
	out = append(out, punches...)
	return render.Block(out, w, h)
}

// historyChart draws each path's download over the whole history on one
// scale, so the audience sees what each path has given over the minutes.
func historyChart(th *styles.Theme, s *swarm.Snapshot, w int) []string {
	n := 0
	peak := 0.0
	for _, p := range s.Paths {
		n = max(n, len(p.History))
		for _, r := range p.History {
			peak = max(peak, r.DownBps)
		}
	}
	if n < 2 {
		return nil
	}
	span := time.Duration(n) * time.Second
	out := []string{"", " " + th.Header.Render(fmt.Sprintf("download by path, last %s (full block = %s)", text.Span(span), text.Rate(peak)))}
	cw := w - 18
	for _, o := range swarm.AllOrigins() {
		p := s.Path(o)
		vals := make([]float64, len(p.History))
		for i, r := range p.History {
			vals[i] = r.DownBps
		}
		out = append(out, "  "+render.Origin(th, o).Render(render.Fit(o.Info().Glyph+" "+string(o), 14)+render.Sparkline(vals, cw, peak)))
	}
	return out
}

// hpRow is the box row of the holepunch line.
var hpRow = firstLine + 2*swarm.OriginHolepunched.Index()

// lastPunch describes the newest successful holepunch, if any.
func lastPunch(th *styles.Theme, recent []swarm.Event, now time.Time) string {
	for i := len(recent) - 1; i >= 0; i-- {
		e := recent[i]
		if e.Kind != swarm.EventHolepunchSucceeded {
			continue
		}
		s := "└ ✓ punched " + e.Peer
		if e.Via != "" {
			s += " via " + e.Via
		}
		return render.Origin(th, swarm.OriginHolepunched).Render(s) + th.Faint.Render(" "+text.Duration(now.Sub(e.Time))+" ago")
	}
	return ""
}

// originAt is the origin drawn on box row r, or -1 for a text row.
func originAt(r int) int {
	if r < firstLine || r >= firstLine+2*swarm.NumOrigins || (r-firstLine)%2 != 0 {
		return -1
	}
	return (r - firstLine) / 2
}

func natHeading(r *nat.Report) string {
	if r != nil && nat.No(r.BehindNAT) && r.PublicAddr != "" {
		return "NO NAT"
	}
	return "NAT / ROUTER"
}

// natText is what the router's box says on its text rows.
func natText(th *styles.Theme, r *nat.Report, running bool) map[int]string {
	switch {
	case r == nil && running:
		return map[int]string{1: th.Warn.Render("checking…"), 3: th.Subtle.Render("STUN + UPnP")}
	case r == nil:
		return map[int]string{1: th.Subtle.Render("not diagnosed"), 3: th.Subtle.Render("r runs a check")}
	}
	t := map[int]string{
		1: th.Level(int(r.NATType.Grade())).Render(string(orType(r.NATType))),
		3: text.OrDash(r.PublicAddr),
		5: th.Subtle.Render("map " + abbrev(r.Mapping) + " · filter " + abbrev(r.Filtering)),
	}
	if st := natreport.UPnPState(r.UPnP); st == text.UPnPMapped {
		t[7] = render.Origin(th, swarm.OriginUPnP).Render(st.String())
	} else {
		t[7] = th.Level(st.Level()).Render(st.String())
	}
	if nat.Yes(r.DoubleNAT) {
		t[9] = th.Bad.Render("⚠ double NAT")
	}
	return t
}

// abbrev shortens an RFC 4787 behaviour: EI, AD, APD.
func abbrev(b nat.Behavior) string {
	switch b {
	case nat.BehaviorEndpointIndependent:
		return "EI"
	case nat.BehaviorAddressDependent:
		return "AD"
	case nat.BehaviorAddressAndPortDependent:
		return "APD"
	case nat.BehaviorNone:
		return "none"
	}
	return "?"
}

// originLine draws one origin's path from your box, through the router, to
// its peers on the internet, with arrow heads that move one cell per second
// in the direction the connections were dialed.
func originLine(th *styles.Theme, g geometry, o swarm.Origin, s *swarm.Snapshot, r *nat.Report, recent []swarm.Event) string {
	p := s.Path(o)
	st := render.Origin(th, o)
	active := p.Peers > 0
	tick := int(s.Time.Unix() % 1_000_000)

	var gate string
	switch o {
	case swarm.OriginInbound:
		switch {
		case active:
			gate = "open"
		case r == nil:
			gate = "?"
		case r.Reachable.Verdict == nat.VerdictOutboundOnly:
			gate = "✗ closed"
		case int(r.Reachable.Verdict.Grade()) == 0:
			gate = "open"
		default:
			gate = "?"
		}
	case swarm.OriginOutbound:
		gate = "mapped"
	case swarm.OriginHolepunched:
		gate = "╳ punched"
		if justPunched(recent, s.Time) {
			gate = "✓ punched!"
		}
	case swarm.OriginUPnP:
		switch {
		case r != nil && len(r.UPnP.Mappings) > 0:
			gate = fmt.Sprintf("▣ UPnP :%d", r.UPnP.Mappings[0].ExternalPort)
		case active:
			gate = "▣ UPnP"
		case r != nil && !r.UPnP.Found:
			gate = "✗ no UPnP"
		case r != nil:
			gate = "✗ unmapped"
		default:
			gate = "▣ UPnP"
		}
	}
	seg := func(n, phase int) string { return flow(o, n, tick+phase, active) }
	wallInner := g.wallW - 2
	gl := render.Width(gate)
	left := (wallInner - gl - 2) / 2
	right := wallInner - gl - 2 - left
	line := seg(g.gap1, 0) + "╂" + seg(left, g.gap1) + " " + gate + " " + seg(right, g.gap1+left) + "╂" + seg(g.gap2-1, g.gap1+wallInner)
	if active {
		line = st.Render(line)
	} else {
		line = th.Faint.Render(line)
	}
	return line + " " + label(th, g, o, p, recent)
}

// JustPunchedWindow is how long the holepunch gate celebrates a success.
const JustPunchedWindow = 5 * time.Second

func justPunched(recent []swarm.Event, now time.Time) bool {
	for i := len(recent) - 1; i >= 0; i-- {
		e := recent[i]
		if now.Sub(e.Time) > JustPunchedWindow {
			return false
		}
		if e.Kind == swarm.EventHolepunchSucceeded {
			return true
		}
	}
	return false
}

// flow draws n cells of line with arrow heads every 6 cells, shifted by
// tick so they travel: toward you for inbound and UPnP, away for outbound,
// both ways (alternating) for holepunched.
func flow(o swarm.Origin, n, tick int, active bool) string {
	if n <= 0 {
		return ""
	}
	if !active {
		return strings.Repeat("┄", n)
	}
	const spacing = 6
	b := make([]string, n)
	for i := range b {
		b[i] = "─"
	}
	for i := 0; i < n; i++ {
		var on bool
		var head string
		switch o {
		case swarm.OriginOutbound:
			on, head = mod(i-tick, spacing) == 0, "▶"
		case swarm.OriginHolepunched:
			on, head = mod(i-tick, spacing) == 0, "◆"
		default:
			on, head = mod(i+tick, spacing) == 0, "◀"
		}
		if on {
			b[i] = head
		}
	}
	return strings.Join(b, "")
}

func mod(a, m int) int { return ((a % m) + m) % m }

func label(th *styles.Theme, g geometry, o swarm.Origin, p swarm.PathStats, recent []swarm.Event) string {
	st := render.OriginBold(th, o)
	name := string(o)
	nameW := 12
	if g.compact {
		name, nameW = o.Info().Short, 4
	}
	stats := fmt.Sprintf("%3d %s ↓ %s ↑ %s", p.Peers, pl(p.Peers), render.FitRight(text.Rate(p.DownBps), 9), render.FitRight(text.Rate(p.UpBps), 9))
	if g.compact {
		stats = fmt.Sprintf("%3d ↓%s", p.Peers, render.FitRight(text.Rate(p.DownBps), 9))
	}
	if p.Peers == 0 {
		stats = th.Faint.Render(stats)
	}
	out := st.Render(o.Info().Glyph+" "+render.Fit(name, nameW)) + " " + stats
	if o == swarm.OriginHolepunched {
		ok := 0
		for _, e := range recent {
			if e.Kind == swarm.EventHolepunchSucceeded {
				ok++
			}
		}
		if ok > 0 {
			out += render.OriginBold(th, o).Render(fmt.Sprintf(" ✓%d new", ok))
		}
	}
	if rest := g.labelW - render.Width(out) - 2; rest >= 10 && len(p.History) > 0 {
		hist := make([]float64, 0, 120)
		from := max(len(p.History)-rest, 0)
		for _, s := range p.History[from:] {
			hist = append(hist, s.DownBps)
		}
		out += "  " + render.Origin(th, o).Render(render.Sparkline(hist, min(rest, 60), g.peak))
	}
	return out
}

// sharedPeak is the highest download sample of the last minute over all
// paths, so the sparklines compare paths instead of each filling its row.
func sharedPeak(s *swarm.Snapshot, width int) float64 {
	m := 0.0
	n := min(max(width, 0), 60)
	for _, p := range s.Paths {
		for _, r := range p.History[max(len(p.History)-n, 0):] {
			m = max(m, r.DownBps)
		}
	}
	return m
}

func countPeers(s *swarm.Snapshot) int {
	n := 0
	for _, p := range s.Paths {
		n += p.Peers
	}
	return n
}

func pl(n int) string {
	if n == 1 {
		return "peer "
	}
	return "peers"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// holepunchLines lists the last minute's holepunch outcomes, newest first,
// under one line that counts the attempts: outcomes are what the audience
// wants to see, and a burst of Connect messages would push them away.
func holepunchLines(th *styles.Theme, recent []swarm.Event, now time.Time, loc *time.Location) []string {
	if len(recent) == 0 {
		return nil
	}
	hp := render.Origin(th, swarm.OriginHolepunched)
	var connects, rendezvous, relayed int
	relays := map[string]bool{}
	var outcomes []string
	for i := len(recent) - 1; i >= 0; i-- {
		e := recent[i]
		mark, st := "✓", hp
		switch e.Kind {
		case swarm.EventHolepunchConnect:
			connects++
			relays[e.Via] = true
			continue
		case swarm.EventHolepunchRendezvous:
			rendezvous++
			relays[e.Via] = true
			continue
		case swarm.EventHolepunchRelayed:
			relayed++
			continue
		case swarm.EventHolepunchFailed, swarm.EventHolepunchError:
			mark, st = "✗", th.Bad
		}
		if len(outcomes) >= 6 {
			continue
		}
		ago := text.Duration(now.Sub(e.Time))
		line := th.Faint.Render(e.Time.In(loc).Format("15:04:05")+" "+render.FitRight(ago, 3)+" ago") + " " +
			st.Render(mark+" "+strings.TrimPrefix(string(e.Kind), "holepunch-")) + " " + e.Peer
		if e.Via != "" {
			line += th.Subtle.Render(" via relay " + e.Via)
		}
		if e.Message != "" {
			line += th.Subtle.Render(" — " + e.Message)
		}
		outcomes = append(outcomes, "  "+line)
	}
	var parts []string
	if rendezvous > 0 {
		parts = append(parts, plural(rendezvous, "rendezvous request"))
	}
	if connects > 0 {
		parts = append(parts, plural(connects, "connect")+" from "+plural(len(relays), "relay"))
	}
	if relayed > 0 {
		parts = append(parts, plural(relayed, "introduction")+" relayed for others")
	}
	head := " " + render.OriginBold(th, swarm.OriginHolepunched).Render("holepunching, last minute")
	if len(parts) > 0 {
		head += th.Subtle.Render(": " + strings.Join(parts, ", "))
	}
	return append([]string{"", head}, outcomes...)
}

func recentHolepunches(evs []swarm.Event, now time.Time) []swarm.Event {
	var out []swarm.Event
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if !now.IsZero() && now.Sub(e.Time) > RecentWindow {
			break
		}
		switch e.Kind {
		case swarm.EventHolepunchSucceeded, swarm.EventHolepunchFailed, swarm.EventHolepunchError,
			swarm.EventHolepunchConnect, swarm.EventHolepunchRendezvous, swarm.EventHolepunchRelayed:
			out = append(out, e)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func orType(t nat.Type) nat.Type {
	if t == "" {
		return nat.TypeUnknown
	}
	return t
}
