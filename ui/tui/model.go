package tui

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/styles"
	"github.com/swarmscope/swarmscope/ui/natreport"
	"github.com/swarmscope/swarmscope/ui/text"
	"github.com/swarmscope/swarmscope/ui/tui/dialog"
	"github.com/swarmscope/swarmscope/ui/tui/events"
	"github.com/swarmscope/swarmscope/ui/tui/keys"
	"github.com/swarmscope/swarmscope/ui/tui/natview"
	"github.com/swarmscope/swarmscope/ui/tui/pane"
	"github.com/swarmscope/swarmscope/ui/tui/paths"
	"github.com/swarmscope/swarmscope/ui/tui/peers"
	"github.com/swarmscope/swarmscope/ui/tui/torrents"
)

// PaneID numbers the panes of the main screen, in tab order; key N+1
// focuses pane N.
type PaneID int

// The panes. To add one: a field in Model, a constant here (before
// numPanes), its pointer in Model.panes and its slot in paneSlots.
const (
	PaneTorrents PaneID = iota
	PanePeers
	PanePaths
	PaneNAT
	PaneEvents
	numPanes
)

// panes lists every pane, indexed by PaneID, as pointers into m: Bubble Tea
// copies the model on every update, so the list is made from the copy at
// hand each time.
func (m *Model) panes() [numPanes]pane.Pane {
	return [numPanes]pane.Pane{&m.torrents, &m.peers, &m.paths, &m.nat, &m.events}
}

// paneSlots says where each pane sits in the all-at-once layout; panes that
// share a slot take turns (the one focused last is shown).
var paneSlots = [numPanes]slot{slotTop, slotMain, slotLeft, slotSide, slotBottom}

// String is the pane's name.
func (p PaneID) String() string {
	if p >= 0 && p < numPanes {
		var m Model
		return m.panes()[p].Name()
	}
	return "?"
}

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
	focus   PaneID
	shown   [numSlots]PaneID // per slot, the pane it shows
	showMap bool

	torrents torrents.Model
	peers    peers.Model
	paths    paths.Model
	nat      natview.Model
	events   events.Model

	dlg      pane.Dialog // nil: none open
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
	k := keys.Default()
	m := Model{
		ctx:       context.Background(),
		opts:      opts,
		th:        th,
		keys:      k,
		help:      h,
		torrents:  torrents.New(th, k),
		peers:     peers.New(th, k),
		paths:     paths.New(th, k),
		nat:       natview.New(th, k, opts.NAT != nil && opts.NATOff == ""),
		events:    events.New(th, k, opts.Location),
		filter:    fi,
		focus:     PaneTorrents,
		statusTTL: 6 * time.Second,
	}
	for s := range m.shown {
		m.shown[s] = -1
	}
	for id, s := range paneSlots {
		if m.shown[s] < 0 {
			m.shown[s] = PaneID(id)
		}
	}
	m.nat.SetOff(opts.NATOff)
	if opts.InitialNAT != nil {
		m.nat.SetReport(natreport.Clean(*opts.InitialNAT))
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
	if m.opts.NAT != nil && m.opts.NATOff == "" && m.opts.InitialNAT == nil {
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
				msg.evs[i] = text.CleanEvent(msg.evs[i])
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
	case dialog.AddResult:
		cmd := m.toDialog(msg)
		if msg.Err != nil {
			if m.dlg != nil {
				return m, cmd // the dialog shows the error
			}
			return m, tea.Batch(cmd, m.setStatus("add failed: "+msg.Err.Error(), true))
		}
		m.torrents.Select(msg.InfoHash)
		m.syncPeers()
		return m, tea.Batch(cmd, m.setStatus("added "+msg.InfoHash, false))
	case actionResultMsg:
		if msg.err != nil {
			return m, m.setStatus(msg.what+" failed: "+msg.err.Error(), true)
		}
		return m, m.setStatus(msg.what, false)
	case dialog.PriorityResult:
		cmd := m.toDialog(msg)
		if msg.Err != nil {
			return m, tea.Batch(cmd, m.setStatus("priority failed: "+msg.Err.Error(), true))
		}
		return m, cmd
	case clearStatusMsg:
		if msg.id == m.statusID {
			m.status = ""
		}
		return m, nil
	case tea.MouseMsg:
		return m.onMouse(msg)
	case tea.KeyMsg:
		return m.onKeys(msg)
	}
	// Cursor blinks and other bubbles' internal messages.
	switch {
	case m.dlg != nil:
		return m, m.toDialog(msg)
	case m.filterOn:
		var cmd tea.Cmd
		m.filter, cmd = m.filter.Update(msg)
		return m, cmd
	}
	return m, nil
}

// reply carries out what a pane or dialog asked for.
func (m *Model) reply(r pane.Reply) tea.Cmd {
	if r.Selected {
		m.syncPeers()
	}
	if r.Close {
		m.dlg = nil
	}
	if r.Open != nil {
		m.dlg = r.Open
	}
	if r.Focus != "" {
		for id, p := range m.panes() {
			if p.Name() == r.Focus {
				m.setFocus(PaneID(id))
			}
		}
	}
	cmd := r.Cmd
	if r.Status != "" {
		cmd = tea.Batch(cmd, m.setStatus(r.Status, r.StatusErr))
	}
	return cmd
}

// toDialog hands msg to the open dialog, if any.
func (m *Model) toDialog(msg tea.Msg) tea.Cmd {
	if m.dlg == nil {
		return nil
	}
	return m.reply(m.dlg.Update(msg))
}

func (m *Model) setStatus(s string, isErr bool) tea.Cmd {
	s = text.CleanLine(s)
	m.statusID++
	m.status, m.statusErr = s, isErr
	if m.statusTTL <= 0 {
		return nil
	}
	return clearStatusAfter(m.statusID, m.statusTTL)
}

// snapshotTaker is a pane or dialog that follows the snapshots.
type snapshotTaker interface{ SetSnapshot(s *swarm.Snapshot) }

// torrentFollower is a pane that shows the selected torrent.
type torrentFollower interface {
	SetTorrent(t swarm.TorrentInfo, now time.Time)
}

func (m *Model) setSnapshot(s swarm.Snapshot) {
	s = text.CleanSnapshot(s)
	resize := m.snap == nil || len(m.snap.Torrents) != len(s.Torrents)
	m.snap = &s
	if resize {
		defer m.relayout()
	}
	for _, p := range m.panes() {
		if st, ok := p.(snapshotTaker); ok {
			st.SetSnapshot(&s)
		}
	}
	m.syncPeers()
	if st, ok := m.dlg.(snapshotTaker); ok {
		st.SetSnapshot(&s)
	}
}

// syncPeers shows the selected torrent in the panes that follow it.
func (m *Model) syncPeers() {
	now := time.Time{}
	if m.snap != nil {
		now = m.snap.Time
	}
	t, _ := m.torrents.Selected()
	for _, p := range m.panes() {
		if f, ok := p.(torrentFollower); ok {
			f.SetTorrent(t, now)
		}
	}
}

func (m *Model) rerunNAT() tea.Cmd {
	if m.opts.NATOff != "" {
		return m.setStatus("NAT not measured: "+m.opts.NATOff, true)
	}
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
		m.nat.SetError(errors.New(text.CleanLine(msg.err.Error())))
	default:
		m.nat.SetReport(natreport.Clean(msg.report))
	}
	return m, next
}

// setFocus focuses pane p and shows it in its slot.
func (m *Model) setFocus(p PaneID) {
	if p < 0 || p >= numPanes {
		return
	}
	m.focus = p
	m.shown[paneSlots[p]] = p
	m.showMap = false
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

// Focus is the focused pane.
func (m Model) Focus() PaneID { return m.focus }

// String identifies the model in test failures.
func (m Model) String() string {
	dlg := "none"
	if m.dlg != nil {
		dlg = fmt.Sprintf("%T", m.dlg)
	}
	return fmt.Sprintf("tui.Model{%dx%d focus=%s map=%v dialog=%s}", m.width, m.height, m.focus, m.showMap, dlg)
}
