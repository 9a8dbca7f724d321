// Package styles is swarmscope's lipgloss theme and imports only lipgloss.
// The model's tables name colour roles (an origin's Hue, a NAT grade); the
// theme turns roles into styles, so one origin has one colour everywhere.
// Views pair every colour with a glyph or a word: colour is never the only
// cue.
package styles

import (
	"github.com/charmbracelet/lipgloss"
)

// Origin colours: each pair is readable on light and dark backgrounds.
var (
	colorInbound     = lipgloss.AdaptiveColor{Light: "#1a7f37", Dark: "#3fb950"}
	colorOutbound    = lipgloss.AdaptiveColor{Light: "#0550ae", Dark: "#58a6ff"}
	colorHolepunched = lipgloss.AdaptiveColor{Light: "#8250df", Dark: "#d2a8ff"}
	colorUPnP        = lipgloss.AdaptiveColor{Light: "#9a6700", Dark: "#e3b341"}
	colorTeal        = lipgloss.AdaptiveColor{Light: "#0e7490", Dark: "#56d4dd"}

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

// hues maps the colour roles that the model's tables name (an origin's Hue,
// say) to colours; styles knows colours, not origins, so it imports only
// lipgloss.
var hues = map[string]lipgloss.AdaptiveColor{
	"green":  colorInbound,
	"blue":   colorOutbound,
	"violet": colorHolepunched,
	"amber":  colorUPnP,
	"teal":   colorTeal,
	"subtle": colorSubtle,
}

// HueColor is the colour of role name; an unknown role is subtle.
func HueColor(name string) lipgloss.AdaptiveColor {
	if c, ok := hues[name]; ok {
		return c
	}
	return colorSubtle
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
	hue, hueBold, hueBadge            map[string]lipgloss.Style
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
	t.hue = make(map[string]lipgloss.Style, len(hues))
	t.hueBold = make(map[string]lipgloss.Style, len(hues))
	t.hueBadge = make(map[string]lipgloss.Style, len(hues))
	for name, c := range hues {
		t.hue[name] = s().Foreground(c)
		t.hueBold[name] = s().Foreground(c).Bold(true)
		t.hueBadge[name] = badge(c)
	}
	return t
}

// Hue is the foreground style of colour role name (subtle if unknown).
func (t *Theme) Hue(name string) lipgloss.Style {
	if st, ok := t.hue[name]; ok {
		return st
	}
	return t.Subtle
}

// HueBold is Hue in bold, for counts and headings.
func (t *Theme) HueBold(name string) lipgloss.Style {
	if st, ok := t.hueBold[name]; ok {
		return st
	}
	return t.Subtle
}

// HueBadge is a filled badge in the colour of role name.
func (t *Theme) HueBadge(name string) lipgloss.Style {
	if st, ok := t.hueBadge[name]; ok {
		return st
	}
	return t.BadgeInfo
}

// Level is the text style of a grade: 0 good, 1 so-so, 2 bad, anything
// else unknown (the model's grades, nat.Grade for instance, use these).
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
