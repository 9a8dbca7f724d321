package tui

import (
	"context"
	"errors"
	"fmt"

	tea "github.com/charmbracelet/bubbletea"
)

// Run shows the TUI full-screen until the user quits or ctx ends. The
// terminal is restored on every path out, including a panic in a view,
// which Bubble Tea recovers and returns as an error.
func Run(ctx context.Context, opts Options) error {
	m := New(opts)
	m.ctx = ctx
	// Ask the terminal for its background and colours before Bubble Tea
	// owns stdin; asking later would race with key input.
	m.th.R.HasDarkBackground()
	m.th.R.ColorProfile()
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithMouseCellMotion(), tea.WithContext(ctx))
	_, err := p.Run()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil:
		// Cancelled from outside (a signal): an ordinary way to stop.
		return nil
	}
	return fmt.Errorf("tui: %w", err)
}
