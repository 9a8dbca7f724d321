package tui

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

type env map[string]string

func (e env) Environ() []string {
	var out []string
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}
func (e env) Getenv(k string) string { return e[k] }

// colourModel renders like a real terminal whose environment is e.
func colourModel(t *testing.T, e env) Model {
	r := lipgloss.NewRenderer(io.Discard, termenv.WithEnvironment(e), termenv.WithTTY(true))
	r.SetHasDarkBackground(true)
	rep := fixtureNAT()
	m := New(Options{Title: "colour", InitialNAT: &rep, Renderer: r, Location: time.UTC})
	m = step(t, m, sizeMsg(160, 48))
	m = step(t, m, snapshotMsg{snap: fixtureSnapshot(20)})
	return step(t, m, eventsMsg{evs: fixtureEvents()})
}

func TestNoColorHonoured(t *testing.T) {
	m := colourModel(t, env{"TERM": "xterm-256color", "COLORTERM": "truecolor", "NO_COLOR": "1"})
	for _, ks := range [][]string{{}, {"m"}, {"?"}, {"2", "enter"}} {
		mm := press(t, m, ks...)
		if v := mm.View(); strings.Contains(v, "\x1b[") {
			t.Fatalf("NO_COLOR set but %v drew escape codes: %q", ks, v[:min(len(v), 300)])
		}
		// Without colour the origins are still told apart by glyph and name.
		if v := mm.View(); len(ks) == 0 && (!strings.Contains(v, "◆ hp") || !strings.Contains(v, "▶ out")) {
			t.Fatalf("origins not labelled without colour")
		}
	}
}

func TestColourWhenAllowed(t *testing.T) {
	m := colourModel(t, env{"TERM": "xterm-256color", "COLORTERM": "truecolor"})
	v := m.View()
	if !strings.Contains(v, "\x1b[") {
		t.Fatal("no colour on a truecolor terminal")
	}
	// Every frame line still fits the terminal once codes are stripped.
	for i, l := range strings.Split(v, "\n") {
		if w := widthOf(l); w != 160 {
			t.Fatalf("line %d is %d wide", i, w)
		}
	}
}
