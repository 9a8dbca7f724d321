package tui

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	tea "github.com/charmbracelet/bubbletea"
)

// BenchmarkView measures one full frame (all panes at 160x48) with the
// selected torrent holding n peers.
func BenchmarkView(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			m := newFixtureModel(b, 160, 48, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_ = m.View()
			}
		})
	}
}

// BenchmarkSnapshot measures taking in one snapshot (filter, sort) plus the
// frame that follows: the per-tick cost.
func BenchmarkSnapshot(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			m := newFixtureModel(b, 160, 48, n)
			s := fixtureSnapshot(n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				next, _ := m.Update(snapshotMsg{snap: s})
				m = next.(Model)
				_ = m.View()
			}
		})
	}
}

var _ tea.Model = Model{}

// BenchmarkViewColor is BenchmarkView with true-colour styling, what a real
// terminal pays: every styled cell emits escape codes.
func BenchmarkViewColor(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			r := lipgloss.NewRenderer(io.Discard)
			r.SetColorProfile(termenv.TrueColor)
			r.SetHasDarkBackground(true)
			rep := fixtureNAT()
			m := New(Options{Title: "bench", InitialNAT: &rep, Renderer: r, Location: time.UTC})
			m = step(b, m, tea.WindowSizeMsg{Width: 160, Height: 48})
			m = step(b, m, snapshotMsg{snap: fixtureSnapshot(n)})
			m = step(b, m, eventsMsg{evs: fixtureEvents()})
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_ = m.View()
			}
		})
	}
}
