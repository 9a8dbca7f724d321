// Package connmap draws the connectivity map: you, your NAT or router, and
// the internet, with one line per origin carrying its live peer count and
// rates, and recent holepunches appearing on the holepunch line. It is the
// one picture that explains a swarm's connectivity to a newcomer.
package connmap

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/swarmscope/swarmscope/engine"
	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/tui/format"
	"github.com/swarmscope/swarmscope/ui/tui/render"
)

// RecentWindow is how long a holepunch stays on the map.
const RecentWindow = 60 * time.Second

// Input is everything the map shows.
type Input struct {
	Snapshot *engine.Snapshot
	Report   *nat.Report
	Events   []engine.Event // oldest first; holepunch events are picked out
	Loc      *time.Location
}

// Lines draws the map in w x h.
func Lines(th *styles.Theme, in Input, w, h int) []string {
	if in.Loc == nil {
		in.Loc = time.Local
	}
	snap := in.Snapshot
	if snap == nil {
		snap = &engine.Snapshot{}
	}
	var out []string

	// Boxes: you, NAT/router, internet.
	youW, natW := 22, 30
	if w < 100 {
		youW, natW = 20, 26
	}
	you := []string{
		th.Title.Render("YOU"),
		orDash(snap.ListenAddr),
		"↓ " + format.Rate(snap.DownBps),
		"↑ " + format.Rate(snap.UpBps),
	}
	natTitle := "NAT / ROUTER"
	var natBody []string
	if r := in.Report; r != nil {
		if !r.BehindNAT && r.PublicAddr != "" {
			natTitle = "NO NAT (public)"
		}
		natBody = append(natBody, th.Level(styles.NATTypeLevel(r.NATType)).Render(string(orType(r.NATType))))
		natBody = append(natBody, "public "+orDash(r.PublicAddr))
		switch {
		case len(r.UPnP.Mappings) > 0:
			mp := r.UPnP.Mappings[0]
			natBody = append(natBody, th.Origin(engine.OriginUPnP).Render(fmt.Sprintf("UPnP %s %d → %s", mp.Proto, mp.ExternalPort, portOf(mp.Internal))))
		case r.UPnP.Found:
			natBody = append(natBody, th.Warn.Render("UPnP found, no mapping"))
		default:
			natBody = append(natBody, th.Subtle.Render("no UPnP"))
		}
		if r.DoubleNAT {
			natBody = append(natBody, th.Bad.Render("⚠ double NAT"))
		}
	} else {
		natBody = append(natBody, th.Subtle.Render("not diagnosed yet"), th.Subtle.Render("(r on the NAT pane)"))
	}
	natBox := render.Box(th.Title.Render(natTitle), natBody, natW, 6, th.Border)
	youBox := render.Box("", you, youW, 6, th.Border)
	gap := 6
	restW := w - youW - natW - 2*gap
	inet := []string{"", th.Title.Render("THE INTERNET"), th.Subtle.Render(countPeers(snap) + " peers connected"), th.Subtle.Render(in.verdict(th))}
	inetBlock := render.Block(inet, max(restW, 0), 6)
	link := render.Block([]string{"", "", th.Faint.Render(strings.Repeat("━", gap)), "", "", ""}, gap, 6)
	top := render.HJoin(youBox, link, natBox, link, inetBlock)
	out = append(out, top...)

	// One line per origin. The NAT column is where inbound-style origins
	// pass (or fail to pass) the router.
	natX := youW + gap + natW/2
	out = append(out, render.Fit(strings.Repeat(" ", youW/2)+th.Faint.Render("│")+strings.Repeat(" ", max(natX-youW/2-1, 0))+th.Faint.Render("│"), w))
	recent := recentHolepunches(in.Events, snap.Time)
	for _, o := range engine.Origins {
		out = append(out, originLine(th, o, snap, in.Report, recent, w, youW/2, natX))
	}
	out = append(out, "")
	out = append(out, " "+th.Legend())

	// Recent holepunches, newest first.
	if len(recent) > 0 {
		out = append(out, "")
		out = append(out, th.OriginBold(engine.OriginHolepunched).Render(fmt.Sprintf("recent holepunches (last %s)", format.Duration(RecentWindow))))
		for i := len(recent) - 1; i >= 0 && len(out) < h; i-- {
			e := recent[i]
			mark, st := "◆", th.Origin(engine.OriginHolepunched)
			switch e.Kind {
			case engine.EventHolepunchSucceeded:
				mark = "✓"
			case engine.EventHolepunchFailed, engine.EventHolepunchError:
				mark, st = "✗", th.Bad
			}
			line := th.Faint.Render(e.Time.In(in.Loc).Format("15:04:05")) + " " + st.Render(mark+" "+strings.TrimPrefix(string(e.Kind), "holepunch-")) + " " + e.Peer
			if e.Via != "" {
				line += th.Subtle.Render(" via relay " + e.Via)
			}
			if e.Message != "" {
				line += th.Subtle.Render(" " + e.Message)
			}
			out = append(out, " "+line)
		}
	}
	return render.Block(out, w, h)
}

func (in Input) verdict(th *styles.Theme) string {
	if in.Report == nil {
		return "reachability unknown"
	}
	return styles.VerdictText(in.Report.Reachable.Verdict)
}

func countPeers(s *engine.Snapshot) string {
	n := 0
	for _, p := range s.Paths {
		n += p.Peers
	}
	return strconv.Itoa(n)
}

// originLine draws "you ──◀── NAT ──◀── internet  ◀ inbound 3 peers ↓ ↑".
func originLine(th *styles.Theme, o engine.Origin, s *engine.Snapshot, r *nat.Report, recent []engine.Event, w, youX, natX int) string {
	p := s.Path(o)
	st := th.Origin(o)
	active := p.Peers > 0
	seg := "─"
	if !active {
		seg = "┄"
	}
	// Arrow heads show who dialed: toward you for inbound and UPnP, away for
	// outbound, both ways for holepunched.
	var head string
	switch o {
	case engine.OriginInbound, engine.OriginUPnP:
		head = "◀"
	case engine.OriginOutbound:
		head = "▶"
	default:
		head = "◆"
	}
	// At the NAT: outbound and holepunched pass through mappings the NAT
	// makes for us; inbound needs an open NAT; UPnP goes through the
	// mapping.
	gate := "┼"
	switch o {
	case engine.OriginUPnP:
		gate = "▣"
	case engine.OriginHolepunched:
		gate = "╳"
	case engine.OriginInbound:
		if r != nil && r.BehindNAT && r.Reachable.Verdict == nat.VerdictOutboundOnly && !active {
			gate = "✗"
		}
	}
	lineW := max(w-youX-36, natX-youX+8)
	left := natX - youX - 1
	right := max(lineW-left-1, 4)
	drawSeg := func(n int) string {
		if n <= 0 {
			return ""
		}
		b := strings.Repeat(seg, n)
		if active {
			mid := n / 2
			runes := []rune(b)
			runes[mid] = []rune(head)[0]
			b = string(runes)
		}
		return b
	}
	line := strings.Repeat(" ", youX) + "├" + drawSeg(left) + gate + drawSeg(right)
	if active {
		line = st.Render(line)
	} else {
		line = th.Faint.Render(line)
	}
	label := st.Render(render.Fit(styles.OriginGlyph(o)+" "+string(o), 13))
	stats := fmt.Sprintf("%4d peers ↓ %-9s ↑ %-9s", p.Peers, format.Rate(p.DownBps), format.Rate(p.UpBps))
	if !active {
		stats = th.Faint.Render(stats)
	}
	extra := ""
	if o == engine.OriginHolepunched {
		ok := 0
		for _, e := range recent {
			if e.Kind == engine.EventHolepunchSucceeded {
				ok++
			}
		}
		if ok > 0 {
			extra = st.Render(fmt.Sprintf(" ✓%d punched", ok))
		}
	}
	return render.Fit(line+" "+label+" "+stats+extra, w)
}

func recentHolepunches(evs []engine.Event, now time.Time) []engine.Event {
	var out []engine.Event
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if !now.IsZero() && now.Sub(e.Time) > RecentWindow {
			break
		}
		switch e.Kind {
		case engine.EventHolepunchSucceeded, engine.EventHolepunchFailed, engine.EventHolepunchError,
			engine.EventHolepunchConnect, engine.EventHolepunchRendezvous:
			out = append(out, e)
		}
	}
	// Back to oldest first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orType(t nat.Type) nat.Type {
	if t == "" {
		return nat.TypeUnknown
	}
	return t
}

func portOf(hostport string) string {
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		return hostport[i:]
	}
	return hostport
}
