// Package tui is swarmscope's live connectivity TUI. It only consumes
// engine snapshots, engine events and NAT reports, and acts through a
// Backend; every call that may block runs in a tea.Cmd, so the screen never
// waits on the network.
package tui

import (
	"context"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/styles"
)

// Backend carries out the user's actions; ui/cli hands it the engine
// (*engine.Engine implements it). The TUI imports no engine code: it sees
// only these methods and the swarm values.
type Backend interface {
	// AddSource adds a magnet link, a .torrent path or a 40-hex info hash.
	AddSource(ctx context.Context, source string) (infohash string, err error)
	Pause(infohash string) error
	Resume(infohash string) error
	Remove(infohash string, deleteData bool) error
	SetFilePriority(infohash string, file int, p swarm.Priority) error
}

// Options configures the TUI.
type Options struct {
	// Title says what is running, e.g. "demo: you behind port-restricted-cone".
	Title string
	// Backend performs actions; nil makes the UI read-only.
	Backend Backend
	// CheckSource parses a source the way the backend will (the engine's
	// ParseSource), so a typo in the add dialog is named before the
	// backend is asked; nil leaves every check to the backend.
	CheckSource func(source string) error
	// Snapshots and Events feed the screen; either may be nil.
	Snapshots <-chan swarm.Snapshot
	Events    <-chan swarm.Event
	// NAT runs a NAT diagnosis for `r`. When InitialNAT is nil it also runs
	// once at start.
	NAT func(ctx context.Context) (nat.Report, error)
	// NATReports pushes diagnoses made elsewhere (e.g. periodic re-checks).
	NATReports <-chan nat.Report
	// NATOff, when set, says why no diagnosis runs (the user turned it
	// off); the NAT pane shows it instead of inviting r.
	NATOff string
	// InitialNAT is shown from the first frame.
	InitialNAT *nat.Report
	// Renderer draws the styles; nil is lipgloss's default (stdout, which
	// honours NO_COLOR and the terminal background).
	Renderer *lipgloss.Renderer
	// Location formats timestamps; nil is time.Local.
	Location *time.Location
	// StartOnMap opens on the connectivity map instead of the panes (the
	// picture a demo audience looks at); m or esc leaves it.
	StartOnMap bool
	// NATTimeout bounds one diagnosis; zero is 90 seconds.
	NATTimeout time.Duration
	// AddTimeout bounds one AddSource call; zero is 60 seconds.
	AddTimeout time.Duration
}

func (o *Options) theme() *styles.Theme {
	if o.Renderer == nil {
		return styles.Default()
	}
	return styles.New(o.Renderer)
}
