package tui

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/tui/dialog"
	"github.com/swarmscope/swarmscope/ui/tui/events"
	"github.com/swarmscope/swarmscope/ui/tui/keys"
	"github.com/swarmscope/swarmscope/ui/tui/natview"
	"github.com/swarmscope/swarmscope/ui/tui/paths"
	"github.com/swarmscope/swarmscope/ui/tui/peers"
	"github.com/swarmscope/swarmscope/ui/tui/torrents"
)

// Pane identifies one of the main screen's panes.
type Pane int

const (
	PaneTorrents Pane = iota
	PanePeers
	PanePaths
	PaneNAT
	PaneEvents
	numPanes
)

var paneNames = [numPanes]string{"Torrents", "Peers", "Paths", "NAT", "Events"}

func (p Pane) String() string {
	if p >= 0 && p < numPanes {
		return paneNames[p]
	}
	return "?"
}

type dialogKind int

const (
	dlgNone dialogKind = iota
	dlgAdd
	dlgRemove
	dlgFiles
	dlgPeer
	dlgHelp
)

// Model is the TUI's Bubble Tea model.
type Model struct {
	ctx  context.Context
	opts Options
	th   *styles.Theme
	keys keys.KeyMap
	help help.Model

	width, height int
	lay           layout

	snap    *swarm.Snapshot
	focus   Pane
	showMap bool

	torrents torrents.Model
	peers    peers.Model
	paths    paths.Model
	nat      natview.Model
	events   events.Model

	dlg      dialogKind
	add      dialog.Add
	remove   dialog.Remove
	files    dialog.Files
	peer     swarm.PeerInfo
	filterOn bool
	filter   textinput.Model

	status    string
	statusErr bool
	statusID  int
	statusTTL time.Duration // how long a status message stays; 0 keeps it
	quitting  bool
}

// New builds the model. It starts no goroutines; Init's commands do the
// listening.
func New(opts Options) Model {
	th := opts.theme()
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.NATTimeout <= 0 {
		opts.NATTimeout = 90 * time.Second
	}
	if opts.AddTimeout <= 0 {
		opts.AddTimeout = 60 * time.Second
	}
	h := help.New()
	h.ShowAll = true
	h.Styles.FullKey = th.Key
	h.Styles.FullDesc = th.KeyDesc
	h.Styles.FullSeparator = th.Faint
	h.Styles.ShortKey = th.Key
	h.Styles.ShortDesc = th.KeyDesc
	h.Styles.ShortSeparator = th.Faint
	h.Styles.Ellipsis = th.Faint
	fi := textinput.New()
	fi.Prompt = "/"
	fi.PromptStyle = th.Accent
	fi.TextStyle = th.Text
	fi.Cursor.Style = th.Accent
	fi.CharLimit = 256
	m := Model{
		ctx:       context.Background(),
		opts:      opts,
		th:        th,
		keys:      keys.Default(),
		help:      h,
		torrents:  torrents.New(th),
		peers:     peers.New(th),
		paths:     paths.New(th),
		nat:       natview.New(th),
		events:    events.New(th, opts.Location),
		filter:    fi,
		focus:     PaneTorrents,
		statusTTL: 6 * time.Second,
	}
	if opts.InitialNAT != nil {
		m.nat.SetReport(cleanReport(*opts.InitialNAT))
	}
	m.showMap = opts.StartOnMap
	m.width, m.height = 80, 24
	m.relayout()
	return m
}

// Init starts listening on the configured channels.
func (m Model) Init() tea.Cmd {
	var cmds []tea.Cmd
	if m.opts.Snapshots != nil {
		cmds = append(cmds, waitSnapshot(m.opts.Snapshots))
	}
	if m.opts.Events != nil {
		cmds = append(cmds, waitEvents(m.opts.Events))
	}
	if m.opts.NATReports != nil {
		cmds = append(cmds, waitNATReport(m.opts.NATReports))
	}
	if m.opts.NAT != nil && m.opts.InitialNAT == nil {
		cmds = append(cmds, func() tea.Msg { return startNATMsg{} })
	}
	return tea.Batch(cmds...)
}

type startNATMsg struct{}

// Update handles one message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.relayout()
		return m, nil
	case snapshotMsg:
		m.setSnapshot(msg.snap)
		if msg.closed || m.opts.Snapshots == nil {
			return m, nil
		}
		return m, waitSnapshot(m.opts.Snapshots)
	case snapshotsClosedMsg:
		return m, nil
	case eventsMsg:
		if len(msg.evs) > 0 {
			for i := range msg.evs {
				msg.evs[i] = cleanEvent(msg.evs[i])
			}
			m.events.Add(msg.evs...)
		}
		if msg.closed || m.opts.Events == nil {
			return m, nil
		}
		return m, waitEvents(m.opts.Events)
	case startNATMsg:
		return m, m.rerunNAT()
	case natReportMsg:
		return m.onNATReport(msg)
	case addResultMsg:
		if m.dlg == dlgAdd {
			m.add.Busy = false
			if msg.err != nil {
				m.add.Err = clean(msg.err.Error())
				return m, nil
			}
			m.dlg = dlgNone
		}
		if msg.err != nil {
			return m, m.setStatus("add failed: "+msg.err.Error(), true)
		}
		m.torrents.Select(msg.infohash)
		m.syncPeers()
		return m, m.setStatus("added "+msg.infohash, false)
	case actionResultMsg:
		if msg.err != nil {
			return m, m.setStatus(msg.what+" failed: "+msg.err.Error(), true)
		}
		return m, m.setStatus(msg.what, false)
	case priorityResultMsg:
		if msg.err != nil {
			return m, m.setStatus("priority failed: "+msg.err.Error(), true)
		}
		if m.dlg == dlgFiles && m.files.InfoHash == msg.infohash && msg.file < len(m.files.Files) {
			// Show the change now rather than at the next snapshot.
			fs := append([]swarm.FileInfo(nil), m.files.Files...)
			fs[msg.file].Priority = msg.prio
			m.files.SetFiles(fs)
		}
		return m, nil
	case clearStatusMsg:
		if msg.id == m.statusID {
			m.status = ""
		}
		return m, nil
	case tea.MouseMsg:
		return m.onMouse(msg)
	case tea.KeyMsg:
		return m.onKey(msg)
	}
	// Cursor blinks and other bubbles' internal messages.
	var cmd tea.Cmd
	switch {
	case m.dlg == dlgAdd:
		m.add, _, cmd = m.add.Update(msg)
	case m.filterOn:
		m.filter, cmd = m.filter.Update(msg)
	}
	return m, cmd
}

func (m *Model) setStatus(s string, isErr bool) tea.Cmd {
	s = clean(s)
	m.statusID++
	m.status, m.statusErr = s, isErr
	if m.statusTTL <= 0 {
		return nil
	}
	return clearStatusAfter(m.statusID, m.statusTTL)
}

func (m *Model) setSnapshot(s swarm.Snapshot) {
	s = cleanSnapshot(s)
	resize := m.snap == nil || len(m.snap.Torrents) != len(s.Torrents)
	m.snap = &s
	if resize {
		defer m.relayout()
	}
	m.torrents.SetTorrents(s.Torrents)
	m.paths.SetSnapshot(&s)
	m.syncPeers()
	if m.dlg == dlgFiles {
		for _, t := range s.Torrents {
			if t.InfoHash == m.files.InfoHash {
				m.files.SetFiles(t.Files)
			}
		}
	}
}

func (m *Model) syncPeers() {
	now := time.Time{}
	if m.snap != nil {
		now = m.snap.Time
	}
	if t, ok := m.torrents.Selected(); ok {
		m.peers.SetTorrent(t, now)
	} else {
		m.peers.SetTorrent(swarm.TorrentInfo{}, now)
	}
}

func (m *Model) rerunNAT() tea.Cmd {
	if m.opts.NAT == nil {
		return m.setStatus("NAT diagnosis is not available here", true)
	}
	if m.nat.Running() {
		return nil
	}
	m.nat.SetRunning(true)
	return runNAT(m.ctx, m.opts.NAT, m.opts.NATTimeout)
}

func (m Model) onNATReport(msg natReportMsg) (tea.Model, tea.Cmd) {
	var next tea.Cmd
	if msg.pushed && !msg.closed && m.opts.NATReports != nil {
		next = waitNATReport(m.opts.NATReports)
	}
	switch {
	case msg.closed:
	case msg.err != nil:
		m.nat.SetError(errors.New(clean(msg.err.Error())))
	default:
		m.nat.SetReport(cleanReport(msg.report))
	}
	return m, next
}

func (m Model) onKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if msg.String() == "ctrl+c" {
		m.quitting = true
		return m, tea.Quit
	}
	if m.dlg != dlgNone {
		return m.onDialogKey(msg)
	}
	if m.filterOn {
		return m.onFilterKey(msg)
	}
	k := m.keys
	switch {
	case key.Matches(msg, k.Quit):
		m.quitting = true
		return m, tea.Quit
	case key.Matches(msg, k.Help):
		m.dlg = dlgHelp
		return m, nil
	case key.Matches(msg, k.Map):
		m.showMap = !m.showMap
		m.relayout()
		return m, nil
	case key.Matches(msg, k.NextPane):
		m.setFocus((m.focus + 1) % numPanes)
		return m, nil
	case key.Matches(msg, k.PrevPane):
		m.setFocus((m.focus + numPanes - 1) % numPanes)
		return m, nil
	case key.Matches(msg, k.Pane):
		m.setFocus(Pane(msg.Runes[0] - '1'))
		return m, nil
	case key.Matches(msg, k.Rerun):
		return m, m.rerunNAT()
	case key.Matches(msg, k.Add):
		if m.opts.Backend == nil {
			return m, m.setStatus("read-only: adding torrents is not available here", true)
		}
		m.add = dialog.NewAdd(m.th)
		m.dlg = dlgAdd
		return m, textinput.Blink
	case key.Matches(msg, k.Pause):
		return m, m.pauseResume()
	case key.Matches(msg, k.Remove):
		t, ok := m.torrents.Selected()
		if !ok {
			return m, nil
		}
		if m.opts.Backend == nil {
			return m, m.setStatus("read-only: removing torrents is not available here", true)
		}
		m.remove = dialog.NewRemove(m.th, t)
		m.dlg = dlgRemove
		return m, nil
	case key.Matches(msg, k.Files):
		t, ok := m.torrents.Selected()
		if !ok {
			return m, nil
		}
		m.files = dialog.NewFiles(m.th, t)
		m.dlg = dlgFiles
		return m, nil
	case key.Matches(msg, k.Filter):
		if m.focus == PanePaths || m.focus == PaneNAT {
			m.setFocus(PanePeers)
		}
		m.showMap = false
		m.filterOn = true
		m.filter.SetValue(m.currentFilter())
		m.filter.CursorEnd()
		m.relayout()
		return m, m.filter.Focus()
	case key.Matches(msg, k.Clear):
		switch {
		case m.showMap:
			m.showMap = false
			m.relayout()
		case m.currentFilter() != "":
			m.applyFilter("")
		case m.focus == PanePeers && m.peers.Origin() != "":
			m.peers.SetOrigin("")
		}
		return m, nil
	}
	if m.showMap {
		return m, nil
	}
	switch m.focus {
	case PaneTorrents:
		if k.Navigate(m.torrents.List(), msg) {
			m.torrents.Moved()
			m.syncPeers()
		} else if key.Matches(msg, k.Enter) {
			m.setFocus(PanePeers)
		}
	case PanePeers:
		switch {
		case k.Navigate(m.peers.List(), msg):
			m.peers.Moved()
		case key.Matches(msg, k.Sort):
			m.peers.NextSort()
		case key.Matches(msg, k.Reverse):
			m.peers.Reverse()
		case key.Matches(msg, k.Origin):
			m.peers.CycleOrigin()
		case key.Matches(msg, k.Enter):
			if p, ok := m.peers.Selected(); ok {
				m.peer = p
				m.dlg = dlgPeer
			}
		}
	case PaneEvents:
		if k.Navigate(m.events.List(), msg) {
			m.events.Moved()
		}
	case PaneNAT:
		switch {
		case key.Matches(msg, k.Up):
			m.nat.Scroll(-1)
		case key.Matches(msg, k.Down):
			m.nat.Scroll(1)
		case key.Matches(msg, k.Home):
			m.nat.Home()
		}
	}
	return m, nil
}

func (m *Model) setFocus(p Pane) {
	if p < 0 || p >= numPanes {
		return
	}
	m.focus = p
	if m.showMap {
		m.showMap = false
	}
	m.relayout()
}

func (m *Model) pauseResume() tea.Cmd {
	t, ok := m.torrents.Selected()
	if !ok {
		return nil
	}
	b := m.opts.Backend
	if b == nil {
		return m.setStatus("read-only: pausing is not available here", true)
	}
	ih, name := t.InfoHash, displayName(t)
	if t.State == swarm.StatePaused {
		return action("resumed "+name, func() error { return b.Resume(ih) })
	}
	if t.State == swarm.StateError {
		// A storage error (full disk, removed file): retry once it is fixed.
		return action("retrying "+name, func() error { return b.Resume(ih) })
	}
	return action("paused "+name, func() error { return b.Pause(ih) })
}

func displayName(t swarm.TorrentInfo) string {
	if t.Name != "" {
		return t.Name
	}
	return t.InfoHash
}

func (m Model) onDialogKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch m.dlg {
	case dlgHelp:
		if key.Matches(msg, m.keys.Quit) && msg.String() == "q" || key.Matches(msg, m.keys.Help, m.keys.Clear, m.keys.Enter) {
			m.dlg = dlgNone
		}
		return m, nil
	case dlgPeer:
		if key.Matches(msg, m.keys.Clear, m.keys.Enter) || msg.String() == "q" {
			m.dlg = dlgNone
		}
		return m, nil
	case dlgAdd:
		var act dialog.Action
		var cmd tea.Cmd
		m.add, act, cmd = m.add.Update(msg)
		switch act {
		case dialog.Cancel:
			m.dlg = dlgNone
			return m, nil
		case dialog.Submit:
			return m, addSource(m.ctx, m.opts.Backend, m.opts.CheckSource, m.add.Input.Value(), m.opts.AddTimeout)
		}
		return m, cmd
	case dlgRemove:
		act, del := m.remove.Update(msg)
		switch act {
		case dialog.Cancel:
			m.dlg = dlgNone
		case dialog.Submit:
			m.dlg = dlgNone
			b, ih, name := m.opts.Backend, m.remove.InfoHash, m.remove.Name
			what := "removed " + name + " (data kept)"
			if del {
				what = "removed " + name + " and deleted its data"
			}
			return m, action(what, func() error { return b.Remove(ih, del) })
		}
		return m, nil
	case dlgFiles:
		act, file, p := m.files.Update(msg)
		switch act {
		case dialog.Cancel:
			m.dlg = dlgNone
		case dialog.Submit:
			if m.opts.Backend == nil {
				return m, m.setStatus("read-only: priorities cannot be changed here", true)
			}
			return m, setPriority(m.opts.Backend, m.files.InfoHash, file, p)
		}
		return m, nil
	}
	return m, nil
}

func (m Model) onFilterKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch msg.String() {
	case "esc":
		m.filterOn = false
		m.filter.Blur()
		m.applyFilter("")
		return m, nil
	case "enter":
		m.filterOn = false
		m.filter.Blur()
		return m, nil
	}
	var cmd tea.Cmd
	m.filter, cmd = m.filter.Update(msg)
	m.applyFilter(m.filter.Value())
	return m, cmd
}

func (m *Model) currentFilter() string {
	switch m.focus {
	case PaneTorrents:
		return m.torrents.Filter()
	case PaneEvents:
		return m.events.Filter()
	}
	return m.peers.Filter()
}

func (m *Model) applyFilter(f string) {
	switch m.focus {
	case PaneTorrents:
		m.torrents.SetFilter(f)
		m.syncPeers()
	case PaneEvents:
		m.events.SetFilter(f)
	default:
		m.peers.SetFilter(f)
	}
}

func (m Model) onMouse(msg tea.MouseMsg) (tea.Model, tea.Cmd) {
	if m.dlg != dlgNone || m.lay.tooSmall {
		return m, nil
	}
	me := tea.MouseEvent(msg)
	if me.Action != tea.MouseActionPress {
		return m, nil
	}
	if me.Y == 1 && me.Button == tea.MouseButtonLeft {
		// The origin counts in the header filter the peers to that origin;
		// clicking the active one shows all again.
		if o, ok := m.headerOriginAt(me.X); ok {
			if m.peers.Origin() == o {
				o = ""
			}
			m.peers.SetOrigin(o)
			m.showMap = false
			m.setFocus(PanePeers)
		}
		return m, nil
	}
	if m.lay.tabs && me.Y == m.lay.tabBar.y {
		for i, r := range m.lay.tabHit {
			if me.X >= r.x && me.X < r.x+r.w {
				if i == int(numPanes) {
					m.showMap = !m.showMap
					m.relayout()
				} else {
					m.setFocus(Pane(i))
				}
				return m, nil
			}
		}
		return m, nil
	}
	if m.showMap {
		return m, nil
	}
	for p := Pane(0); p < numPanes; p++ {
		r, ok := m.lay.panes[p]
		if !ok || !r.contains(me.X, me.Y) {
			continue
		}
		cx, cy := me.X-r.x-1, me.Y-r.y-1
		switch me.Button {
		case tea.MouseButtonWheelUp, tea.MouseButtonWheelDown:
			d := 3
			if me.Button == tea.MouseButtonWheelUp {
				d = -3
			}
			m.scroll(p, d)
		case tea.MouseButtonLeft:
			m.focus = p
			if cy < 0 || cx < 0 || cx >= r.w-2 || cy >= r.h-2 {
				return m, nil
			}
			switch p {
			case PaneTorrents:
				m.torrents.Click(cy)
				m.syncPeers()
			case PanePeers:
				m.peers.Click(cx, cy)
			case PaneEvents:
				m.events.Click(cy)
			}
		}
		return m, nil
	}
	return m, nil
}

func (m *Model) scroll(p Pane, d int) {
	switch p {
	case PaneTorrents:
		m.torrents.List().Scroll(d)
		m.torrents.Moved()
		m.syncPeers()
	case PanePeers:
		m.peers.List().Scroll(d)
		m.peers.Moved()
	case PaneEvents:
		m.events.List().Scroll(d)
		m.events.Moved()
	case PaneNAT:
		m.nat.Scroll(d)
	}
}

// Focus is the focused pane.
func (m Model) Focus() Pane { return m.focus }

// String identifies the model in test failures.
func (m Model) String() string {
	return fmt.Sprintf("tui.Model{%dx%d focus=%s map=%v dialog=%d}", m.width, m.height, m.focus, m.showMap, m.dlg)
}
