package render

import (
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
)

func TestFit(t *testing.T) {
	cases := []struct {
		in   string
		w    int
		want string
	}{
		{"abc", 5, "abc  "}, {"abcdef", 4, "abc…"}, {"abc", 3, "abc"}, {"abc", 0, ""}, {"abc", 1, "…"},
		{"◆ hp", 6, "◆ hp  "}, {"◆ holepunched", 5, "◆ ho…"}, {"", 2, "  "},
	}
	for _, c := range cases {
		if got := Fit(c.in, c.w); got != c.want {
			t.Errorf("Fit(%q, %d) = %q, want %q", c.in, c.w, got, c.want)
		}
		if got := FitRight(c.in, c.w); Width(got) != c.w {
			t.Errorf("FitRight(%q, %d) width %d", c.in, c.w, Width(got))
		}
	}
	// Styled text keeps its codes and its width.
	styled := "\x1b[31mred text\x1b[0m"
	if got := Fit(styled, 5); Width(got) != 5 || !strings.Contains(got, "\x1b[31m") {
		t.Errorf("Fit(styled) = %q", got)
	}
}

func TestWidthsDropsLowPriorityFirst(t *testing.T) {
	cols := []Column{
		{Title: "a", Width: 10, Prio: 9},
		{Title: "flex", Width: 8, Flex: true, Prio: 10},
		{Title: "c", Width: 10, Prio: 1},
		{Title: "d", Width: 10, Prio: 5},
	}
	w := Widths(cols, 100)
	if w[0] != 10 || w[2] != 10 || w[3] != 10 || w[1] != 100-30-3 {
		t.Fatalf("wide: %v", w)
	}
	w = Widths(cols, 30)
	if w[2] != 0 || w[3] != 10 || w[0] != 10 || w[1] != 8 {
		t.Fatalf("narrow: %v (column c should go first)", w)
	}
	w = Widths(cols, 3)
	total := 0
	for _, x := range w {
		total += x
	}
	if total > 3 {
		t.Fatalf("tiny: %v", w)
	}
	if got := Row(cols, Widths(cols, 30), []string{"x", "y", "z", "w"}); Width(got) != 30 {
		t.Fatalf("row width %d: %q", Width(got), got)
	}
	if c := ColumnAt(Widths(cols, 30), 12); c != 1 {
		t.Fatalf("ColumnAt = %d", c)
	}
}

func TestBoxAndOverlay(t *testing.T) {
	b := Box("T", []string{"hello", "a very long line that is cut"}, 12, 4, lipgloss.NewStyle())
	want := []string{"╭─T────────╮", "│hello     │", "│a very lon…│", "╰──────────╯"}
	want[2] = "│a very lon…│"
	for i, l := range b {
		if Width(l) != 12 {
			t.Errorf("box line %d width %d: %q", i, Width(l), l)
		}
	}
	if b[0] != want[0] || b[1] != want[1] || b[3] != want[3] {
		t.Fatalf("box:\n%s", strings.Join(b, "\n"))
	}
	bg := Block([]string{"0123456789", "abcdefghij", "ABCDEFGHIJ"}, 10, 3)
	got := Overlay(bg, []string{"XY"}, 4, 1)
	if got[1] != "abcdXYghij" || got[0] != bg[0] {
		t.Fatalf("overlay: %q", got)
	}
	// Off-screen parts are dropped, never panicking.
	_ = Overlay(bg, []string{"XYZ", "XYZ", "XYZ", "XYZ"}, 8, 2)
	_ = Box("T", nil, 1, 1, lipgloss.NewStyle())
}

func TestSparkline(t *testing.T) {
	if got := Sparkline([]float64{0, 1, 2, 4}, 6, 4); got != "  ·▂▄█" {
		t.Fatalf("sparkline = %q", got)
	}
	// More samples than cells: averaged, newest at the right edge.
	vals := make([]float64, 100)
	for i := range vals {
		vals[i] = float64(i)
	}
	s := Sparkline(vals, 10, 99)
	if Width(s) != 10 || !strings.HasSuffix(s, "█") {
		t.Fatalf("bucketed sparkline %q", s)
	}
	if Sparkline(nil, 0, 1) != "" || Width(Sparkline(nil, 3, 0)) != 3 {
		t.Fatal("empty sparkline")
	}
}

func TestBar(t *testing.T) {
	st := lipgloss.NewStyle()
	for _, f := range []float64{-1, 0, 0.33, 0.5, 0.999, 1, 2} {
		if w := Width(Bar(f, 10, st, st)); w != 10 {
			t.Errorf("Bar(%v) width %d", f, w)
		}
	}
	if Bar(1, 4, st, st) != "████" || Bar(0, 4, st, st) != "░░░░" {
		t.Fatal("bar ends")
	}
}

func TestList(t *testing.T) {
	l := List{Len: 100, Height: 10}
	l.Move(15)
	if l.Cursor != 15 || l.Offset != 6 {
		t.Fatalf("move: %+v", l)
	}
	l.End()
	if l.Cursor != 99 || l.Offset != 90 {
		t.Fatalf("end: %+v", l)
	}
	l.Scroll(-50)
	if l.Offset != 40 || l.Cursor != 49 {
		t.Fatalf("scroll: %+v", l)
	}
	l.Len = 5
	l.Clamp()
	if l.Cursor != 4 || l.Offset != 0 {
		t.Fatalf("shrink: %+v", l)
	}
	l.Len = 0
	l.Page(3)
	if l.Cursor != 0 {
		t.Fatalf("empty: %+v", l)
	}
}
