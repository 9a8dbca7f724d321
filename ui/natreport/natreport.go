// Package natreport draws a nat.Report, the one renderer behind both the
// TUI's NAT pane (Compact) and the `swarmscope nat` printer (Full): the same
// behaviour has the same colour and the same words in both, a lease reads
// "lease 1h00m" in both, and each UPnP state has one wording (text.UPnPState).
// Every string of the report that came from the network (router names,
// server errors, addresses) is cleaned here.
package natreport

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/text"
)

// Badge renders the NAT type as a badge in its grade's colour: "NAT
// symmetric".
func Badge(th *styles.Theme, ty nat.Type) string {
	if ty == "" {
		ty = nat.TypeUnknown
	}
	return th.LevelBadge(int(ty.Grade())).Render("NAT " + string(ty))
}

// Verdict renders the verdict's words in its grade's colour.
func Verdict(th *styles.Theme, v nat.Verdict) string {
	return th.Level(int(v.Grade())).Render(v.Text())
}

// UPnPState is what the report says of the port mapping.
func UPnPState(u nat.UPnPReport) text.UPnPState {
	switch {
	case len(u.Mappings) > 0:
		return text.UPnPMapped
	case u.Found:
		return text.UPnPNoMapping
	case u.Error == "skipped":
		return text.UPnPOff
	case u.Error != "":
		return text.UPnPFailed
	}
	return text.UPnPNoGateway
}

// UPnPBadge is the header's badge for the report's UPnP state; a held
// mapping shows the address peers dial.
func UPnPBadge(th *styles.Theme, u nat.UPnPReport) string {
	s := UPnPState(u)
	label := s.String()
	if s == text.UPnPMapped {
		ext := text.Clean(u.ExternalIP)
		if ext == "" {
			ext = "?"
		}
		label = fmt.Sprintf("UPnP %s:%d", ext, u.Mappings[0].ExternalPort)
	}
	return th.LevelBadge(s.Level()).Render(label)
}

// Mode selects the layout.
type Mode int

const (
	// Compact is the NAT pane: the verdict first, one line a fact, the
	// STUN servers summed up, the advice last.
	Compact Mode = iota
	// Full is the printed report: titled sections, every STUN server, the
	// notes and how long it took.
	Full
)

// labelW is the label column: "Port preserved" and a space.
const labelW = 15

// Lines draws report r for width w (lines may be shorter; none longer,
// except a Full STUN table row, which is a table).
func Lines(th *styles.Theme, r nat.Report, mode Mode, w int) []string {
	d := drawer{th: th, full: mode == Full, w: max(w, 24)}
	d.report(r)
	return d.out
}

type drawer struct {
	th   *styles.Theme
	full bool
	w    int
	out  []string
}

func (d *drawer) line(s string) { d.out = append(d.out, s) }

func (d *drawer) section(title string) {
	if d.full {
		d.line("")
		d.line(d.th.Title.Render(title))
	}
}

// row is "label  value"; a long plain value wraps under itself.
func (d *drawer) row(label, value string) {
	indent := ""
	if d.full {
		indent = "  "
	}
	lab := d.th.Subtle.Render(pad(label, labelW))
	d.line(indent + lab + value)
}

// wrapped is a row whose plain value wraps at the width.
func (d *drawer) wrapped(label string, st func(...string) string, value string) {
	indent := 0
	if d.full {
		indent = 2
	}
	for i, l := range text.Wrap(value, max(d.w-indent-labelW, 16)) {
		if i > 0 {
			label = ""
		}
		d.row(label, st(l))
	}
}

func pad(s string, w int) string {
	if n := ansi.StringWidth(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s + " "
}

func (d *drawer) report(r nat.Report) {
	th := d.th
	c := text.Clean
	switch {
	case d.full:
		d.line(th.Brand.Render("swarmscope nat") + "  " + Badge(th, r.NATType))
	case ansi.StringWidth(Badge(th, r.NATType)+" "+Verdict(th, r.Reachable.Verdict)) > d.w:
		d.line(Badge(th, r.NATType))
		d.line(Verdict(th, r.Reachable.Verdict))
	default:
		d.line(Badge(th, r.NATType) + " " + Verdict(th, r.Reachable.Verdict))
	}

	d.section("Verdict")
	if d.full {
		d.row("Reachable", Verdict(th, r.Reachable.Verdict))
		d.wrapped("Advice", plain, c(r.Reachable.Advice))
	}

	d.section("Addresses")
	d.row("Local", d.orUnknown(c(r.LocalAddr)))
	pub := d.orUnknown(c(r.PublicAddr))
	if nat.No(r.BehindNAT) && r.PublicAddr != "" {
		pub += th.Good.Render("  (no NAT)")
	}
	d.row("Public", pub)
	if d.full {
		d.row("Behind NAT", d.yesNo(r.BehindNAT, 1, 0))
	}
	if d.full || nat.Yes(r.DoubleNAT) {
		dn := d.yesNo(r.DoubleNAT, 2, 0)
		if nat.Yes(r.CGNAT) {
			dn += th.Subtle.Render("  (carrier-grade NAT address seen)")
		}
		d.row("Double NAT", dn)
	}
	if d.full {
		probed := strconv.Itoa(r.ProbedPort)
		if r.SharedSocket {
			probed += th.Subtle.Render("  (the torrent client's own socket)")
		} else {
			probed += th.Subtle.Render("  (fresh socket)")
		}
		d.row("Probed port", probed)
		if r.ListenPort != 0 && r.ListenPort != r.ProbedPort {
			d.row("Listen port", strconv.Itoa(r.ListenPort)+th.Subtle.Render("  (what peers are told)"))
		}
	}

	d.section("Behaviour")
	if d.full {
		d.row("NAT type", d.orUnknown(string(r.NATType)))
	}
	d.row("Mapping", d.behaviour(r.Mapping, true))
	d.row("Filtering", d.behaviour(r.Filtering, false))
	d.row("Port preserved", d.yesNo(r.PortPreserved, 0, 1))
	d.row("Hairpinning", d.yesNo(r.Hairpin, 0, 1))

	d.section("STUN servers")
	d.servers(r)

	d.section("UPnP")
	d.upnp(r.UPnP)

	if d.full {
		if len(r.Notes) > 0 {
			d.section("Notes")
			for _, n := range r.Notes {
				for i, l := range text.Wrap(c(n), max(d.w-4, 20)) {
					if i == 0 {
						d.line("  • " + l)
					} else {
						d.line("    " + l)
					}
				}
			}
		}
		d.line("")
		d.line(th.Faint.Render(fmt.Sprintf("Measured in %.2f s", r.DurationMs/1000)))
		return
	}
	if r.Reachable.Advice != "" {
		d.line("")
		for i, l := range text.Wrap(c(r.Reachable.Advice), max(d.w-2, 20)) {
			if i == 0 {
				d.line(th.Accent.Render("» ") + l)
			} else {
				d.line("  " + l)
			}
		}
	}
}

func plain(s ...string) string { return strings.Join(s, " ") }

func (d *drawer) orUnknown(s string) string {
	if s == "" {
		return d.th.Faint.Render("unknown")
	}
	return s
}

// behaviour colours a NAT behaviour by what it does to peers: a mapping
// that depends on the destination (symmetric) defeats holepunching, a
// filter that does only asks for one.
func (d *drawer) behaviour(b nat.Behavior, mapping bool) string {
	th := d.th
	switch b {
	case nat.BehaviorUnknown, "":
		return th.Faint.Render("unknown")
	case nat.BehaviorEndpointIndependent, nat.BehaviorNone:
		return th.Good.Render(string(b))
	case nat.BehaviorAddressDependent, nat.BehaviorAddressAndPortDependent, nat.BehaviorEndpointDependent:
		if mapping {
			return th.Bad.Render(string(b))
		}
		return th.Warn.Render(string(b))
	}
	return th.Subtle.Render(text.Clean(string(b)))
}

// yesNo says a measured yes/no in the colour of its grade; nil was not
// measured and says so.
func (d *drawer) yesNo(v *bool, yesLevel, noLevel int) string {
	switch {
	case v == nil:
		return d.th.Faint.Render("unknown")
	case *v:
		return d.th.Level(yesLevel).Render("yes")
	}
	return d.th.Level(noLevel).Render("no")
}

func (d *drawer) servers(r nat.Report) {
	th, c := d.th, text.Clean
	if !d.full {
		ok := 0
		for _, s := range r.Servers {
			if s.Error == "" {
				ok++
			}
		}
		if len(r.Servers) > 0 {
			d.row("STUN", fmt.Sprintf("%d/%d servers answered in %s", ok, len(r.Servers), text.Millis(time.Duration(r.DurationMs*float64(time.Millisecond)))))
		}
		return
	}
	addrW := len("SERVER")
	for _, s := range r.Servers {
		addrW = max(addrW, ansi.StringWidth(c(s.Address)))
	}
	d.line("  " + th.Header.Render(pad("SERVER", addrW+2)+pad("RTT", 11)+pad("MAPPED", 24)+"PROTOCOL"))
	for _, s := range r.Servers {
		if s.Error != "" {
			d.line("  " + pad(c(s.Address), addrW+2) + th.Bad.Render(text.CleanLine(s.Error)))
			continue
		}
		rtt := text.Millis(time.Duration(s.RTTms * float64(time.Millisecond)))
		d.line("  " + pad(c(s.Address), addrW+2) + pad(rtt, 11) + pad(c(s.MappedAddr), 24) + c(s.Protocol))
	}
}

func (d *drawer) upnp(u nat.UPnPReport) {
	th, c := d.th, text.Clean
	st := UPnPState(u)
	word := th.Level(st.Level()).Render(st.String())
	switch st {
	case text.UPnPMapped, text.UPnPNoMapping:
		gw := c(u.Device)
		if gw == "" {
			gw = "IGD"
		}
		if d.full && u.Service != "" {
			gw += th.Subtle.Render("  (" + c(u.Service) + ")")
		}
		if d.full {
			d.row("UPnP", word+"  "+gw)
			d.row("External IP", d.orUnknown(c(u.ExternalIP)))
		} else {
			// The address peers dial matters more here than the router's name.
			d.row("UPnP", word+" "+th.Subtle.Render(text.OrDash(c(u.ExternalIP))))
		}
		for i, m := range u.Mappings {
			label := ""
			if i == 0 {
				label = "Mappings"
			}
			lease := text.Lease(time.Duration(m.LeaseS) * time.Second)
			internal := c(m.Internal)
			line := fmt.Sprintf("%s %d → %s ", c(m.Proto), m.ExternalPort, internal)
			if !d.full && labelW+ansi.StringWidth(line+lease) > d.w {
				// The internal host is ours anyway; its port is what matters.
				if j := strings.LastIndexByte(internal, ':'); j >= 0 {
					line = fmt.Sprintf("%s %d → %s ", c(m.Proto), m.ExternalPort, internal[j:])
				}
			}
			d.row(label, line+th.Subtle.Render(lease))
		}
		if u.Error != "" {
			d.wrapped("Error", th.Bad.Render, text.CleanLine(u.Error))
		}
	case text.UPnPFailed:
		d.row("UPnP", word)
		d.wrapped("", th.Bad.Render, text.CleanLine(u.Error))
	default:
		d.row("UPnP", word)
	}
}

// Clean returns r with every string that came from the network cleaned
// (router and service names, addresses, server errors, advice and notes),
// for views that read the report's fields themselves (the header, the map).
func Clean(r nat.Report) nat.Report {
	c := text.Clean
	r.LocalAddr, r.PublicAddr = c(r.LocalAddr), c(r.PublicAddr)
	r.Reachable.Advice = text.CleanLine(r.Reachable.Advice)
	u := &r.UPnP
	u.Device, u.Service, u.ExternalIP, u.Error = c(u.Device), c(u.Service), c(u.ExternalIP), text.CleanLine(u.Error)
	if len(u.Mappings) > 0 {
		ms := append([]nat.Mapping(nil), u.Mappings...)
		for i := range ms {
			ms[i].Proto, ms[i].Internal = c(ms[i].Proto), c(ms[i].Internal)
		}
		u.Mappings = ms
	}
	if len(r.Servers) > 0 {
		ss := append([]nat.ServerResult(nil), r.Servers...)
		for i := range ss {
			ss[i].Address, ss[i].MappedAddr, ss[i].Error = c(ss[i].Address), c(ss[i].MappedAddr), text.CleanLine(ss[i].Error)
			ss[i].Protocol, ss[i].Resolved = c(ss[i].Protocol), c(ss[i].Resolved)
		}
		r.Servers = ss
	}
	if len(r.Notes) > 0 {
		ns := make([]string, len(r.Notes))
		for i, n := range r.Notes {
			ns[i] = text.CleanLine(n)
		}
		r.Notes = ns
	}
	return r
}
