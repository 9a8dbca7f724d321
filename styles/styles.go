// Package styles is swarmscope's lipgloss theme. Every view that shows a peer
// origin (the TUI, the headless printer, the NAT report printer) draws it
// through this package, so one origin has one colour and one glyph
// everywhere, and colour is never the only cue.
package styles

import (
	"strconv"

	"github.com/charmbracelet/lipgloss"
	"github.com/swarmscope/swarmscope/engine"
	"github.com/swarmscope/swarmscope/nat"
)

// Origin colours: each pair is readable on light and dark backgrounds.
var (
	colorInbound     = lipgloss.AdaptiveColor{Light: "#1a7f37", Dark: "#3fb950"}
	colorOutbound    = lipgloss.AdaptiveColor{Light: "#0550ae", Dark: "#58a6ff"}
	colorHolepunched = lipgloss.AdaptiveColor{Light: "#8250df", Dark: "#d2a8ff"}
	colorUPnP        = lipgloss.AdaptiveColor{Light: "#9a6700", Dark: "#e3b341"}

	colorAccent = lipgloss.AdaptiveColor{Light: "#6f42c1", Dark: "#bc8cff"}
	colorText   = lipgloss.AdaptiveColor{Light: "#1f2328", Dark: "#e6edf3"}
	colorSubtle = lipgloss.AdaptiveColor{Light: "#57606a", Dark: "#8b949e"}
	colorFaint  = lipgloss.AdaptiveColor{Light: "#8c959f", Dark: "#484f58"}
	colorBorder = lipgloss.AdaptiveColor{Light: "#d0d7de", Dark: "#30363d"}
	colorGood   = lipgloss.AdaptiveColor{Light: "#1a7f37", Dark: "#3fb950"}
	colorWarn   = lipgloss.AdaptiveColor{Light: "#9a6700", Dark: "#d29922"}
	colorBad    = lipgloss.AdaptiveColor{Light: "#cf222e", Dark: "#f85149"}
	colorSelBg  = lipgloss.AdaptiveColor{Light: "#ddf4ff", Dark: "#1f2d3d"}
	colorBadgeF = lipgloss.AdaptiveColor{Light: "#ffffff", Dark: "#0d1117"}
)

// OriginColor is the one colour of origin o.
func OriginColor(o engine.Origin) lipgloss.AdaptiveColor {
	switch o {
	case engine.OriginInbound:
		return colorInbound
	case engine.OriginOutbound:
		return colorOutbound
	case engine.OriginHolepunched:
		return colorHolepunched
	case engine.OriginUPnP:
		return colorUPnP
	}
	return colorSubtle
}

// OriginGlyph is a one-cell symbol of origin o; the arrows point the way the
// connection was dialed as seen from the user.
func OriginGlyph(o engine.Origin) string {
	switch o {
	case engine.OriginInbound:
		return "◀"
	case engine.OriginOutbound:
		return "▶"
	case engine.OriginHolepunched:
		return "◆"
	case engine.OriginUPnP:
		return "■"
	}
	return "?"
}

// OriginLetter is a one-letter ASCII code of origin o, for places where
// even a glyph is too wide a claim (logs, narrow columns).
func OriginLetter(o engine.Origin) string {
	switch o {
	case engine.OriginInbound:
		return "I"
	case engine.OriginOutbound:
		return "O"
	case engine.OriginHolepunched:
		return "H"
	case engine.OriginUPnP:
		return "U"
	}
	return "?"
}

// OriginShort is the short column label of origin o.
func OriginShort(o engine.Origin) string {
	switch o {
	case engine.OriginInbound:
		return "in"
	case engine.OriginOutbound:
		return "out"
	case engine.OriginHolepunched:
		return "hp"
	case engine.OriginUPnP:
		return "upnp"
	}
	return string(o)
}

// Theme holds every style, bound to one lipgloss renderer so that a test can
// render without colour and a program can honour NO_COLOR and the terminal's
// background.
type Theme struct {
	R *lipgloss.Renderer

	Text, Subtle, Faint, Accent, Bold lipgloss.Style
	Title, Brand                      lipgloss.Style
	Border, BorderFocused             lipgloss.Style
	Selected, SelectedFocused         lipgloss.Style
	Good, Warn, Bad                   lipgloss.Style
	BadgeGood, BadgeWarn, BadgeBad    lipgloss.Style
	BadgeInfo                         lipgloss.Style
	TabActive, TabInactive            lipgloss.Style
	Key, KeyDesc                      lipgloss.Style
	Header                            lipgloss.Style
	origin                            [len(engine.Origins)]lipgloss.Style
	originBold                        [len(engine.Origins)]lipgloss.Style
	originBadge                       [len(engine.Origins)]lipgloss.Style
}

// Default is the theme of lipgloss's default renderer (stdout, NO_COLOR and
// the terminal background honoured).
func Default() *Theme { return New(lipgloss.DefaultRenderer()) }

// New builds the theme on renderer r.
func New(r *lipgloss.Renderer) *Theme {
	s := r.NewStyle
	badge := func(bg lipgloss.AdaptiveColor) lipgloss.Style {
		return s().Foreground(colorBadgeF).Background(bg).Bold(true).Padding(0, 1)
	}
	t := &Theme{
		R:               r,
		Text:            s().Foreground(colorText),
		Subtle:          s().Foreground(colorSubtle),
		Faint:           s().Foreground(colorFaint),
		Accent:          s().Foreground(colorAccent),
		Bold:            s().Bold(true),
		Title:           s().Foreground(colorAccent).Bold(true),
		Brand:           s().Foreground(colorBadgeF).Background(colorAccent).Bold(true).Padding(0, 1),
		Border:          s().Foreground(colorBorder),
		BorderFocused:   s().Foreground(colorAccent),
		Selected:        s().Background(colorSelBg),
		SelectedFocused: s().Background(colorSelBg).Bold(true),
		Good:            s().Foreground(colorGood),
		Warn:            s().Foreground(colorWarn),
		Bad:             s().Foreground(colorBad),
		BadgeGood:       badge(colorGood),
		BadgeWarn:       badge(colorWarn),
		BadgeBad:        badge(colorBad),
		BadgeInfo:       badge(colorSubtle),
		TabActive:       s().Foreground(colorAccent).Bold(true).Underline(true),
		TabInactive:     s().Foreground(colorSubtle),
		Key:             s().Foreground(colorAccent).Bold(true),
		KeyDesc:         s().Foreground(colorSubtle),
		Header:          s().Foreground(colorSubtle).Bold(true),
	}
	for i, o := range engine.Origins {
		t.origin[i] = s().Foreground(OriginColor(o))
		t.originBold[i] = s().Foreground(OriginColor(o)).Bold(true)
		t.originBadge[i] = badge(OriginColor(o))
	}
	return t
}

func originIndex(o engine.Origin) int {
	for i, x := range engine.Origins {
		if x == o {
			return i
		}
	}
	return -1
}

// Origin is the foreground style of origin o.
func (t *Theme) Origin(o engine.Origin) lipgloss.Style {
	if i := originIndex(o); i >= 0 {
		return t.origin[i]
	}
	return t.Subtle
}

// OriginBold is Origin in bold, for counts and headings.
func (t *Theme) OriginBold(o engine.Origin) lipgloss.Style {
	if i := originIndex(o); i >= 0 {
		return t.originBold[i]
	}
	return t.Subtle
}

// OriginBadge is a filled badge in the colour of origin o.
func (t *Theme) OriginBadge(o engine.Origin) lipgloss.Style {
	if i := originIndex(o); i >= 0 {
		return t.originBadge[i]
	}
	return t.BadgeInfo
}

// OriginTag renders glyph and short name ("◆ hp") in the origin's colour.
func (t *Theme) OriginTag(o engine.Origin) string {
	return t.Origin(o).Render(OriginGlyph(o) + " " + OriginShort(o))
}

// OriginCount renders "◆ 3" in the origin's colour.
func (t *Theme) OriginCount(o engine.Origin, n int) string {
	return t.OriginBold(o).Render(OriginGlyph(o) + " " + strconv.Itoa(n))
}

// Legend explains every origin's glyph and colour on one line.
func (t *Theme) Legend() string {
	out := ""
	for i, o := range engine.Origins {
		if i > 0 {
			out += "  "
		}
		out += t.Origin(o).Render(OriginGlyph(o) + " " + string(o))
	}
	return out
}

// NATTypeLevel grades a classic NAT type for badge colours: 0 good (peers
// can reach you), 1 so-so (holepunching works), 2 bad.
func NATTypeLevel(ty nat.Type) int {
	switch ty {
	case nat.TypeOpen, nat.TypeFullCone:
		return 0
	case nat.TypeRestrictedCone, nat.TypePortRestrictedCone:
		return 1
	case nat.TypeSymmetric, nat.TypeSymmetricFirewall, nat.TypeUDPBlocked:
		return 2
	}
	return -1
}

// NATBadge renders the NAT type as a coloured badge.
func (t *Theme) NATBadge(ty nat.Type) string {
	if ty == "" {
		ty = nat.TypeUnknown
	}
	return t.levelBadge(NATTypeLevel(ty)).Render("NAT " + string(ty))
}

// VerdictLevel grades a reachability verdict like NATTypeLevel.
func VerdictLevel(v nat.Verdict) int {
	switch v {
	case nat.VerdictPublic, nat.VerdictUPnP, nat.VerdictFullCone:
		return 0
	case nat.VerdictOutboundOnly:
		return 2
	}
	return -1
}

// VerdictText says a verdict in a few words.
func VerdictText(v nat.Verdict) string {
	switch v {
	case nat.VerdictPublic:
		return "reachable: yes, public address"
	case nat.VerdictUPnP:
		return "reachable: yes, via UPnP"
	case nat.VerdictFullCone:
		return "reachable: yes, full-cone NAT"
	case nat.VerdictOutboundOnly:
		return "reachable: no, outbound only"
	}
	return "reachable: unknown"
}

// Verdict renders VerdictText in the verdict's colour.
func (t *Theme) Verdict(v nat.Verdict) string {
	return t.Level(VerdictLevel(v)).Render(VerdictText(v))
}

// Level is the text style of a grade from NATTypeLevel or VerdictLevel.
func (t *Theme) Level(level int) lipgloss.Style {
	switch level {
	case 0:
		return t.Good
	case 1:
		return t.Warn
	case 2:
		return t.Bad
	}
	return t.Subtle
}

func (t *Theme) levelBadge(level int) lipgloss.Style {
	switch level {
	case 0:
		return t.BadgeGood
	case 1:
		return t.BadgeWarn
	case 2:
		return t.BadgeBad
	}
	return t.BadgeInfo
}

// LevelBadge is the badge style of a grade.
func (t *Theme) LevelBadge(level int) lipgloss.Style { return t.levelBadge(level) }
