package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/ui/tui/dialog"
	"github.com/swarmscope/swarmscope/ui/tui/peers"
	"github.com/swarmscope/swarmscope/ui/tui/render"
)

// runCmd executes cmd and feeds every resulting message back, following
// batches, but never blocks on channel listeners (they are skipped).
func runCmd(t testing.TB, m Model, cmd tea.Cmd) Model {
	t.Helper()
	if cmd == nil {
		return m
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-done:
	case <-time.After(2 * time.Second):
		return m // a listener waiting on a channel
	}
	switch msg := msg.(type) {
	case nil:
		return m
	case tea.BatchMsg:
		for _, c := range msg {
			m = runCmd(t, m, c)
		}
		return m
	case clearStatusMsg:
		return m
	}
	next, cmd2 := m.Update(msg)
	m = next.(Model)
	if _, ok := msg.(snapshotMsg); ok {
		return m
	}
	if _, ok := msg.(eventsMsg); ok {
		return m
	}
	return runCmd(t, m, cmd2)
}

func TestEveryScreenFillsTheTerminalAtManySizes(t *testing.T) {
	// Walk every pane, the map and every dialog at sizes from tiny to huge:
	// nothing may panic and every frame must be exactly the terminal size.
	screens := [][]string{{}, {"2"}, {"3"}, {"4"}, {"5"}, {"m"}, {"?"}, {"a"}, {"d"}, {"f"}, {"2", "enter"}, {"2", "/", "x"}}
	for _, sz := range [][2]int{{1, 1}, {10, 5}, {59, 30}, {60, 16}, {80, 24}, {100, 30}, {119, 40}, {120, 32}, {200, 60}, {300, 100}} {
		for _, ks := range screens {
			m := newFixtureModel(t, sz[0], sz[1], 100)
			m = press(t, m, ks...)
			v := m.View()
			lines := strings.Split(v, "\n")
			if len(lines) != sz[1] {
				t.Errorf("%dx%d %v: %d lines", sz[0], sz[1], ks, len(lines))
			}
			for i, l := range lines {
				if w := widthOf(l); w != sz[0] {
					t.Errorf("%dx%d %v: line %d is %d wide", sz[0], sz[1], ks, i, w)
					break
				}
			}
		}
	}
}

func widthOf(s string) int { return render.Width(s) }

func TestTooSmall(t *testing.T) {
	m := newFixtureModel(t, 40, 10, 10)
	if v := m.View(); !strings.Contains(v, "terminal too small") {
		t.Fatalf("no too-small notice:\n%s", v)
	}
	m = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	if v := m.View(); strings.Contains(v, "terminal too small") || !strings.Contains(v, "Torrents") {
		t.Fatalf("did not re-lay out after growing:\n%s", v)
	}
}

func TestPaneNavigation(t *testing.T) {
	m := newFixtureModel(t, 80, 24, 10)
	want := []PaneID{PanePeers, PanePaths, PaneNAT, PaneEvents, PaneTorrents}
	for _, w := range want {
		m = press(t, m, "tab")
		if m.Focus() != w {
			t.Fatalf("tab: focus %s, want %s", m.Focus(), w)
		}
	}
	m = press(t, m, "shift+tab")
	if m.Focus() != PaneEvents {
		t.Fatalf("shift+tab: focus %s", m.Focus())
	}
	m = press(t, m, "3")
	if m.Focus() != PanePaths || !strings.Contains(m.View(), "↓ total") {
		t.Fatalf("3: focus %s", m.Focus())
	}
}

func TestTorrentSelectionDrivesPeers(t *testing.T) {
	m := newFixtureModel(t, 160, 48, 40)
	if _, total := m.peers.Count(); total != 40 {
		t.Fatalf("peers of first torrent = %d", total)
	}
	m = press(t, m, "j")
	if sel, _ := m.torrents.Selected(); sel.Name != "debian-12.8.0-amd64-netinst.iso" {
		t.Fatalf("selected %q", sel.Name)
	}
	if _, total := m.peers.Count(); total != 6 {
		t.Fatalf("peers after j = %d, want the second torrent's 6", total)
	}
	// A new snapshot keeps the selection on the same torrent.
	s := fixtureSnapshot(40)
	slices.Reverse(s.Torrents)
	m = step(t, m, snapshotMsg{snap: s})
	if sel, _ := m.torrents.Selected(); sel.Name != "debian-12.8.0-amd64-netinst.iso" {
		t.Fatalf("selection moved to %q after reordering", sel.Name)
	}
}

func TestPeerSortAndSelectionStable(t *testing.T) {
	m := newFixtureModel(t, 160, 48, 200)
	m = press(t, m, "2", "j", "j", "j")
	p0, _ := m.peers.Selected()
	// Same peers, new rates: the cursor follows the peer, not the row.
	s := fixtureSnapshot(200)
	for i := range s.Torrents[0].PeerList {
		s.Torrents[0].PeerList[i].DownBps = float64(i)
	}
	m = step(t, m, snapshotMsg{snap: s})
	p1, _ := m.peers.Selected()
	if p0.ID != p1.ID {
		t.Fatalf("selection jumped from %s to %s", p0.ID, p1.ID)
	}
	for _, col := range []int{peers.ColOrigin, peers.ColTransport, peers.ColAddr, peers.ColClient, peers.ColDown, peers.ColUp, peers.ColProgress, peers.ColFlags, peers.ColSince} {
		m.peers.SortBy(col)
		for _, desc := range []bool{false, true} {
			if _, d := m.peers.Sort(); d != desc {
				m.peers.Reverse()
			}
			rows := visiblePeers(m)
			for i := 1; i < len(rows); i++ {
				c := comparePeers(col, rows[i-1], rows[i])
				if desc {
					c = -c
				}
				if c > 0 {
					t.Fatalf("col %d desc=%v: row %d out of order: %+v then %+v", col, desc, i, rows[i-1], rows[i])
				}
			}
		}
	}
}

func visiblePeers(m Model) []swarm.PeerInfo {
	var out []swarm.PeerInfo
	l := m.peers.List()
	save := *l
	defer func() { *l = save }()
	shown, _ := m.peers.Count()
	for i := 0; i < shown; i++ {
		l.Cursor = i
		p, _ := m.peers.Selected()
		out = append(out, p)
	}
	return out
}

func comparePeers(col int, a, b swarm.PeerInfo) int {
	f := func(x, y float64) int {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	switch col {
	case peers.ColOrigin:
		return f(float64(a.Origin.Index()), float64(b.Origin.Index()))
	case peers.ColTransport:
		return strings.Compare(string(a.Transport), string(b.Transport))
	case peers.ColAddr:
		return strings.Compare(a.Addr, b.Addr)
	case peers.ColClient:
		return strings.Compare(a.Client, b.Client)
	case peers.ColDown:
		return f(a.DownBps, b.DownBps)
	case peers.ColUp:
		return f(a.UpBps, b.UpBps)
	case peers.ColProgress:
		return f(a.Progress, b.Progress)
	case peers.ColFlags:
		return strings.Compare(string(a.Discovery), string(b.Discovery))
	case peers.ColSince:
		return b.Since.Compare(a.Since)
	}
	return 0
}

func TestOriginFilterShowsOnlyThatOrigin(t *testing.T) {
	m := newFixtureModel(t, 160, 48, 300)
	m = press(t, m, "2")
	for _, o := range swarm.AllOrigins() {
		m = press(t, m, "o")
		if m.peers.Origin() != o {
			t.Fatalf("origin filter %q, want %q", m.peers.Origin(), o)
		}
		rows := visiblePeers(m)
		if len(rows) == 0 {
			t.Fatalf("no %s peers in the fixture", o)
		}
		for _, p := range rows {
			if p.Origin != o {
				t.Fatalf("filter %s shows a %s peer", o, p.Origin)
			}
		}
	}
	m = press(t, m, "o")
	if shown, total := m.peers.Count(); m.peers.Origin() != "" || shown != total {
		t.Fatalf("cycling back to all: origin %q, %d/%d", m.peers.Origin(), shown, total)
	}
}

func TestFilterEscClears(t *testing.T) {
	m := newFixtureModel(t, 120, 40, 100)
	m = press(t, m, "2", "/")
	m = typeText(t, m, "deluge")
	shown, total := m.peers.Count()
	if shown == 0 || shown == total {
		t.Fatalf("filter deluge: %d/%d", shown, total)
	}
	for _, p := range visiblePeers(m) {
		if !strings.Contains(strings.ToLower(p.Client), "deluge") {
			t.Fatalf("filter shows %+v", p)
		}
	}
	m = press(t, m, "esc")
	if shown, total := m.peers.Count(); shown != total || m.filterOn {
		t.Fatalf("esc left %d/%d, filterOn=%v", shown, total, m.filterOn)
	}
}

func TestActionsGoThroughBackend(t *testing.T) {
	fb := &fakeBackend{}
	snap := fixtureSnapshot(10)
	m := New(Options{Backend: fb, Renderer: asciiRenderer(), Location: time.UTC})
	m.statusTTL = 0 // no clearing timers to wait for
	m = step(t, m, tea.WindowSizeMsg{Width: 120, Height: 40})
	m = step(t, m, snapshotMsg{snap: snap})
	ih0, ih2 := snap.Torrents[0].InfoHash, snap.Torrents[2].InfoHash

	// p pauses the downloading torrent, and resumes the paused one.
	next, cmd := m.Update(keyMsg("p"))
	m = runCmd(t, next.(Model), cmd)
	m = press(t, m, "j", "j")
	next, cmd = m.Update(keyMsg("p"))
	m = runCmd(t, next.(Model), cmd)

	// d asks; esc cancels; d then y removes keeping data; D deletes data.
	m = press(t, m, "d", "esc")
	m = press(t, m, "d")
	if _, ok := m.dlg.(*dialog.Remove); !ok || !strings.Contains(m.View(), "Remove torrent") {
		t.Fatal("d opened no confirmation")
	}
	next, cmd = m.Update(keyMsg("y"))
	m = runCmd(t, next.(Model), cmd)
	m = press(t, m, "d")
	next, cmd = m.Update(keyMsg("D"))
	m = runCmd(t, next.(Model), cmd)

	// f opens files; x skips the first, j then h makes the second high.
	m = press(t, m, "f")
	files, ok := m.dlg.(*dialog.Files)
	if !ok || !strings.Contains(m.View(), "poster.jpg") {
		t.Fatalf("f did not show files:\n%s", m.View())
	}
	next, cmd = m.Update(keyMsg("x"))
	m = runCmd(t, next.(Model), cmd)
	m = press(t, m, "j")
	next, cmd = m.Update(keyMsg("h"))
	m = runCmd(t, next.(Model), cmd)
	if files.Files[0].Priority != swarm.PrioritySkip || files.Files[1].Priority != swarm.PriorityHigh {
		t.Fatalf("file priorities not shown as changed: %+v", files.Files)
	}
	m = press(t, m, "esc")

	// a with a valid info hash adds and closes the dialog.
	m = press(t, m, "a")
	m = typeText(t, m, strings.Repeat("ab", 20))
	next, cmd = m.Update(keyMsg("enter"))
	m = runCmd(t, next.(Model), cmd)
	if m.dlg != nil {
		t.Fatalf("add dialog still open: %v", m)
	}

	want := []string{
		"pause " + ih0,
		"resume " + ih2,
		"remove " + ih2 + " false",
		"remove " + ih2 + " true",
		"prio " + ih2 + " 0 skip",
		"prio " + ih2 + " 1 high",
		"add " + strings.Repeat("ab", 20),
	}
	if got := fb.Calls(); !slices.Equal(got, want) {
		t.Fatalf("backend calls:\n got %q\nwant %q", got, want)
	}
}

func TestAddErrorsStayInDialog(t *testing.T) {
	fb := &fakeBackend{err: errors.New("engine closed")}
	m := New(Options{Backend: fb, Renderer: asciiRenderer(), Location: time.UTC})
	m = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m = press(t, m, "a", "enter")
	if !strings.Contains(m.View(), "enter a magnet link") {
		t.Fatalf("empty input gave no error:\n%s", m.View())
	}
	m = typeText(t, m, "magnet:?xt=urn:btih:"+strings.Repeat("cd", 20))
	if strings.Contains(m.View(), "enter a magnet link") {
		t.Fatal("typing did not clear the error")
	}
	next, cmd := m.Update(keyMsg("enter"))
	m = runCmd(t, next.(Model), cmd)
	if _, ok := m.dlg.(*dialog.Add); !ok || !strings.Contains(m.View(), "engine closed") {
		t.Fatalf("backend error not in dialog:\n%s", m.View())
	}
}

func TestReadOnlyWithoutBackend(t *testing.T) {
	m := New(Options{Renderer: asciiRenderer(), Location: time.UTC})
	m = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m = step(t, m, snapshotMsg{snap: fixtureSnapshot(3)})
	m = press(t, m, "a")
	if m.dlg != nil || !strings.Contains(m.View(), "read-only") {
		t.Fatalf("no read-only notice:\n%s", m.View())
	}
}

func TestNATRerun(t *testing.T) {
	runs := 0
	rep := fixtureNAT()
	m := New(Options{
		Renderer: asciiRenderer(), Location: time.UTC,
		NAT: func(ctx context.Context) (nat.Report, error) {
			runs++
			if runs == 2 {
				return nat.Report{}, errors.New("no STUN server answered")
			}
			r := rep
			r.NATType = nat.TypeSymmetric
			return r, nil
		},
	})
	m = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m = runCmd(t, m, m.Init())
	m = press(t, m, "4")
	if runs != 1 || !strings.Contains(m.View(), "symmetric") {
		t.Fatalf("initial diagnosis not shown (runs %d):\n%s", runs, m.View())
	}
	next, cmd := m.Update(keyMsg("r"))
	m = next.(Model)
	if !strings.Contains(m.View(), "running NAT diagnosis") {
		t.Fatalf("no progress shown:\n%s", m.View())
	}
	m = runCmd(t, m, cmd)
	if v := m.View(); !strings.Contains(v, "no STUN server answered") || !strings.Contains(v, "symmetric") {
		t.Fatalf("failed re-run should show the error and keep the old report:\n%s", v)
	}
}

func TestChannelsFeedTheModel(t *testing.T) {
	snaps := make(chan swarm.Snapshot, 4)
	evs := make(chan swarm.Event, 1000)
	m := New(Options{Snapshots: snaps, Events: evs, Renderer: asciiRenderer(), Location: time.UTC})
	m = step(t, m, tea.WindowSizeMsg{Width: 160, Height: 48})
	old := fixtureSnapshot(5)
	old.Time = fixedNow.Add(-time.Second)
	snaps <- old
	snaps <- fixtureSnapshot(5)
	for _, e := range fixtureEvents() {
		evs <- e
	}
	close(snaps)
	cmd := waitSnapshot(snaps)
	msg := cmd().(snapshotMsg)
	if !msg.snap.Time.Equal(fixedNow) || !msg.closed {
		t.Fatalf("waitSnapshot did not skip to the newest: %v closed=%v", msg.snap.Time, msg.closed)
	}
	m = step(t, m, msg)
	em := waitEvents(evs)().(eventsMsg)
	if len(em.evs) != len(fixtureEvents()) {
		t.Fatalf("batch of %d events, want %d", len(em.evs), len(fixtureEvents()))
	}
	m = step(t, m, em)
	if v := m.View(); !strings.Contains(v, "holepunch-succeeded") || !strings.Contains(v, "ubuntu") {
		t.Fatalf("channel data not drawn:\n%s", v)
	}
	if _, ok := waitSnapshot(snaps)().(snapshotsClosedMsg); !ok {
		t.Fatal("closed channel not reported")
	}
}

func TestEventsLogIsBounded(t *testing.T) {
	m := newFixtureModel(t, 120, 40, 5)
	batch := make([]swarm.Event, 5000)
	for i := range batch {
		batch[i] = swarm.Event{Time: fixedNow, Kind: swarm.EventPeerConnected, Peer: fmt.Sprintf("192.0.2.1:%d", i)}
	}
	m = step(t, m, eventsMsg{evs: batch})
	if n := len(m.events.All()); n > 2000 {
		t.Fatalf("kept %d events", n)
	}
	if last, _ := m.events.Last(); last.Peer != "192.0.2.1:4999" {
		t.Fatalf("newest event lost: %+v", last)
	}
}

func TestMouse(t *testing.T) {
	m := newFixtureModel(t, 160, 48, 100)
	// Click the second torrent row: header 2 lines, frame top, column header.
	r := m.lay.panes[PaneTorrents]
	m = step(t, m, tea.MouseMsg{X: 5, Y: r.y + 3, Button: tea.MouseButtonLeft, Action: tea.MouseActionPress})
	if sel, _ := m.torrents.Selected(); sel.Name != "debian-12.8.0-amd64-netinst.iso" {
		t.Fatalf("click selected %q", sel.Name)
	}
	m = step(t, m, tea.MouseMsg{X: 5, Y: r.y + 2, Button: tea.MouseButtonLeft, Action: tea.MouseActionPress})
	// Wheel over the peers pane scrolls it and focuses nothing else.
	p := m.lay.panes[PanePeers]
	m = step(t, m, tea.MouseMsg{X: p.x + 10, Y: p.y + 5, Button: tea.MouseButtonLeft, Action: tea.MouseActionPress})
	if m.Focus() != PanePeers {
		t.Fatalf("click on peers focused %s", m.Focus())
	}
	before := m.peers.List().Offset
	m = step(t, m, tea.MouseMsg{X: p.x + 10, Y: p.y + 5, Button: tea.MouseButtonWheelDown, Action: tea.MouseActionPress})
	if m.peers.List().Offset != before+3 {
		t.Fatalf("wheel: offset %d -> %d", before, m.peers.List().Offset)
	}
	// Clicking the address header sorts by address.
	m = step(t, m, tea.MouseMsg{X: p.x + 1 + 14, Y: p.y + 1, Button: tea.MouseButtonLeft, Action: tea.MouseActionPress})
	if col, _ := m.peers.Sort(); col != peers.ColAddr {
		t.Fatalf("header click sorted by %d", col)
	}
	// The header's origin counts filter the peers.
	line := strings.Split(m.View(), "\n")[1]
	x := len([]rune(line[:strings.Index(line, "◆ hp")]))
	m = step(t, m, tea.MouseMsg{X: x + 1, Y: 1, Button: tea.MouseButtonLeft, Action: tea.MouseActionPress})
	if m.peers.Origin() != swarm.OriginHolepunched || m.Focus() != PanePeers {
		t.Fatalf("header click: origin filter %q, focus %s", m.peers.Origin(), m.Focus())
	}
	m = step(t, m, tea.MouseMsg{X: x + 1, Y: 1, Button: tea.MouseButtonLeft, Action: tea.MouseActionPress})
	if m.peers.Origin() != "" {
		t.Fatalf("second header click kept filter %q", m.peers.Origin())
	}
	// Tabs at 80x24: clicking "4 NAT" shows the NAT pane.
	m = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	hit := m.lay.tabHit[PaneNAT]
	m = step(t, m, tea.MouseMsg{X: hit.x + 1, Y: hit.y, Button: tea.MouseButtonLeft, Action: tea.MouseActionPress})
	if m.Focus() != PaneNAT {
		t.Fatalf("tab click focused %s", m.Focus())
	}
}

func TestStartOnMap(t *testing.T) {
	m := New(Options{StartOnMap: true, Renderer: asciiRenderer(), Location: time.UTC})
	m = step(t, m, sizeMsg(120, 40))
	if !strings.Contains(m.View(), "THE INTERNET") {
		t.Fatalf("not on the map:\n%s", m.View())
	}
	m = press(t, m, "esc")
	if strings.Contains(m.View(), "THE INTERNET") {
		t.Fatal("esc did not leave the map")
	}
}

func TestQuit(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		m := newFixtureModel(t, 80, 24, 5)
		next, cmd := m.Update(keyMsg(k))
		if cmd == nil {
			t.Fatalf("%s: no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Fatalf("%s did not quit", k)
		}
		if next.(Model).View() != "" {
			t.Fatalf("%s: view not cleared on quit", k)
		}
	}
	// q inside the add dialog is text, not quit.
	m := newFixtureModel(t, 80, 24, 5)
	m = press(t, m, "a", "q")
	if d, ok := m.dlg.(*dialog.Add); !ok || d.Input.Value() != "q" || m.quitting {
		t.Fatal("q in the add dialog quit instead of typing")
	}
}

func TestPeerDetails(t *testing.T) {
	m := newFixtureModel(t, 120, 40, 20)
	m = press(t, m, "2", "enter")
	p, _ := m.peers.Selected()
	v := m.View()
	if d, ok := m.dlg.(*dialog.Text); !ok || d.Title() != "Peer details" || !strings.Contains(v, p.Addr) || !strings.Contains(v, string(p.Origin)) {
		t.Fatalf("peer details missing:\n%s", v)
	}
	m = press(t, m, "esc")
	if m.dlg != nil {
		t.Fatal("esc did not close details")
	}
}

func TestCachedPanesFollowNewData(t *testing.T) {
	m := newFixtureModel(t, 160, 48, 10)
	before := m.View()
	s := fixtureSnapshot(10)
	for i := range s.Paths {
		s.Paths[i].DownBps = 0
		s.Paths[i].History = nil
	}
	m = step(t, m, snapshotMsg{snap: s})
	after := m.View()
	if before == after || !strings.Contains(after, "last 0s") {
		t.Fatalf("paths pane kept a stale frame:\n%s", after)
	}
	rep := fixtureNAT()
	rep.NATType = "symmetric"
	m = step(t, m, natReportMsg{report: rep})
	if !strings.Contains(m.View(), "NAT symmetric") || strings.Contains(m.View(), "NAT port-restricted-cone ") {
		t.Fatalf("NAT pane kept a stale report:\n%s", m.View())
	}
	// Same data at another size is drawn again, not reused.
	m = step(t, m, sizeMsg(200, 60))
	for i, l := range strings.Split(m.View(), "\n") {
		if widthOf(l) != 200 {
			t.Fatalf("line %d is %d wide after resize", i, widthOf(l))
		}
	}
}

// With STUN turned off the screen says so instead of "check failed", and r
// runs nothing.
func TestNATOff(t *testing.T) {
	runs := 0
	m := New(Options{
		Renderer: asciiRenderer(), Location: time.UTC,
		NAT: func(ctx context.Context) (nat.Report, error) {
			runs++
			return nat.Report{}, errors.New("no STUN servers")
		},
		NATOff: `STUN turned off (--stun "")`,
	})
	m = step(t, m, tea.WindowSizeMsg{Width: 120, Height: 40})
	m = runCmd(t, m, m.Init())
	m = press(t, m, "4")
	m = press(t, m, "r")
	v := m.View()
	if runs != 0 || !strings.Contains(v, "NAT not checked") || !strings.Contains(v, "NAT not measured: STUN turned off") || strings.Contains(v, "failed") {
		t.Fatalf("runs %d, screen:\n%s", runs, v)
	}
}
