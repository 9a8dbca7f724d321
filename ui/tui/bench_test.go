package tui

import (
	"fmt"
	"testing"

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
