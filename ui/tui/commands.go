package tui

import (
	"context"
	"errors"
	"fmt"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/ui/tui/dialog"
)

type (
	snapshotMsg struct {
		snap   swarm.Snapshot
		closed bool
	}
	snapshotsClosedMsg struct{}
	eventsMsg          struct {
		evs    []swarm.Event
		closed bool
	}
	natReportMsg struct {
		report nat.Report
		err    error
		pushed bool // from Options.NATReports, not a run of ours
		closed bool
	}
	actionResultMsg struct {
		what string
		err  error
	}
	clearStatusMsg struct{ id int }
)

// maxEventBatch bounds how many queued events one message carries, so a burst
// of peer churn costs one redraw instead of thousands.
const maxEventBatch = 512

// waitSnapshot delivers the newest queued snapshot: a UI that fell behind
// skips stale ticks instead of replaying them.
func waitSnapshot(ch <-chan swarm.Snapshot) tea.Cmd {
	return func() tea.Msg {
		s, ok := <-ch
		if !ok {
			return snapshotsClosedMsg{}
		}
		for {
			select {
			case next, ok := <-ch:
				if !ok {
					return snapshotMsg{snap: s, closed: true}
				}
				s = next
			default:
				return snapshotMsg{snap: s}
			}
		}
	}
}

func waitEvents(ch <-chan swarm.Event) tea.Cmd {
	return func() tea.Msg {
		e, ok := <-ch
		if !ok {
			return eventsMsg{closed: true}
		}
		evs := []swarm.Event{e}
		for len(evs) < maxEventBatch {
			select {
			case e, ok := <-ch:
				if !ok {
					return eventsMsg{evs: evs, closed: true}
				}
				evs = append(evs, e)
			default:
				return eventsMsg{evs: evs}
			}
		}
		return eventsMsg{evs: evs}
	}
}

func waitNATReport(ch <-chan nat.Report) tea.Cmd {
	return func() tea.Msg {
		r, ok := <-ch
		if !ok {
			return natReportMsg{pushed: true, closed: true}
		}
		return natReportMsg{report: r, pushed: true}
	}
}

func runNAT(ctx context.Context, f func(context.Context) (nat.Report, error), timeout time.Duration) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		r, err := f(ctx)
		if err != nil {
			return natReportMsg{err: fmt.Errorf("nat diagnosis: %w", err)}
		}
		return natReportMsg{report: r}
	}
}

func addSource(ctx context.Context, b Backend, check func(string) error, source string, timeout time.Duration) tea.Cmd {
	return func() tea.Msg {
		// Validate first: a typo should say what is wrong with the input,
		// not whatever the client trips over later.
		if check != nil {
			if err := check(source); err != nil {
				return dialog.AddResult{Err: err}
			}
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		ih, err := b.AddSource(ctx, source)
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("adding timed out after %s: %w", timeout, err)
		}
		return dialog.AddResult{InfoHash: ih, Err: err}
	}
}

func action(what string, f func() error) tea.Cmd {
	return func() tea.Msg {
		return actionResultMsg{what: what, err: f()}
	}
}

func setPriority(b Backend, ih string, file int, p swarm.Priority) tea.Cmd {
	return func() tea.Msg {
		return dialog.PriorityResult{InfoHash: ih, File: file, Prio: p, Err: b.SetFilePriority(ih, file, p)}
	}
}

func clearStatusAfter(id int, d time.Duration) tea.Cmd {
	return tea.Tick(d, func(time.Time) tea.Msg { return clearStatusMsg{id: id} })
}
