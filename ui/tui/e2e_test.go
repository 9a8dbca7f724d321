package tui

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/maketorrent"
)

// TestTmuxEndToEnd runs the real binary in a detached tmux of 120x40 and
// checks what a person would see: peers labelled with their origins, rates
// that move, help that opens, the map, and a clean exit that gives the
// terminal back. It runs against a loopback swarm (a headless seeder on
// 127.0.0.1) and, once wired, against `swarmscope demo`.
func TestTmuxEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds the binary")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "swarmscope")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = moduleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	t.Run("loopback", func(t *testing.T) {
		work := t.TempDir()
		seedDir, leechDir := filepath.Join(work, "seed"), filepath.Join(work, "leech")
		res, err := maketorrent.Make(seedDir, filepath.Join(work, "e2e.torrent"), maketorrent.Spec{
			Name: "e2e-payload.bin", FileSizes: []int64{48 << 20}, Seed: 7,
		})
		if err != nil {
			t.Fatal(err)
		}
		port := freePort(t)
		// Loopback only: no DHT, no trackers in the torrent, no UPnP, no STUN.
		quiet := []string{"--bind", "127.0.0.1", "--no-upnp", "--no-dht", "--stun", ""}
		seeder := exec.CommandContext(ctx, bin, append([]string{"--headless", "--seed", "--dir", seedDir,
			"--port", strconv.Itoa(port)}, append(quiet, res.TorrentPath)...)...)
		var seedOut bytes.Buffer
		seeder.Stdout, seeder.Stderr = &seedOut, &seedOut
		if err := seeder.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = seeder.Process.Kill()
			_ = seeder.Wait()
			if t.Failed() {
				t.Logf("seeder output:\n%s", seedOut.String())
			}
		})
		// A download limit keeps the transfer going long enough to watch.
		args := append([]string{bin, "--seed", "--dir", leechDir, "--port", "0", "--download-limit", "1000000",
			"--peer", fmt.Sprintf("127.0.0.1:%d", port)}, append(quiet, res.TorrentPath)...)
		s := newTmux(t, ctx, tmux, work)
		s.run(shellJoin(args))
		s.checkTUI(regexp.MustCompile(`▶ out\s+((tcp|utp)\s+)?127\.0\.0\.1:\d+`))
	})

	t.Run("demo", func(t *testing.T) {
		if err := exec.CommandContext(ctx, bin, "demo", "--help").Run(); err != nil {
			t.Skipf("`swarmscope demo` is not wired yet (demo --help: %v)", err)
		}
		s := newTmux(t, ctx, tmux, t.TempDir())
		s.run(shellJoin([]string{bin, "demo"}))
		s.checkTUI(regexp.MustCompile(`[◀▶◆■] (in|out|hp|upnp)\s+((tcp|utp|webrtc)\s+)?\S+:\d+`))
	})
}

type tmuxSession struct {
	t    *testing.T
	ctx  context.Context
	tmux string
	sock string
}

// newTmux starts a private tmux server (nothing of the user's is touched)
// with one 120x40 window running a plain shell in dir.
func newTmux(t *testing.T, ctx context.Context, tmux, dir string) *tmuxSession {
	s := &tmuxSession{t: t, ctx: ctx, tmux: tmux, sock: fmt.Sprintf("swarmscope-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())}
	t.Cleanup(func() { _, _ = s.cmd("kill-server") })
	if out, err := s.cmd("-f", "/dev/null", "new-session", "-d", "-s", "e2e", "-x", "120", "-y", "40", "-c", dir,
		"env", "PS1=$ ", "TERM=xterm-256color", "HOME="+dir, "sh"); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	return s
}

func (s *tmuxSession) cmd(args ...string) (string, error) {
	c := exec.CommandContext(s.ctx, s.tmux, append([]string{"-L", s.sock}, args...)...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.String(), err
}

func (s *tmuxSession) capture() string {
	out, _ := s.cmd("capture-pane", "-p", "-t", "e2e")
	return out
}

func (s *tmuxSession) send(keys ...string) {
	s.t.Helper()
	if out, err := s.cmd(append([]string{"send-keys", "-t", "e2e"}, keys...)...); err != nil {
		s.t.Fatalf("send-keys %q: %v %s", keys, err, out)
	}
}

// run types a command line and echoes its exit status when it ends.
func (s *tmuxSession) run(line string) { s.send(line+"; echo exit=$?", "Enter") }

// waitFor polls the screen. The deadline is generous: real engines start
// on a loaded machine; it only bounds a hang.
func (s *tmuxSession) waitFor(what string, ok func(string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		screen := s.capture()
		if ok(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s; screen:\n%s", what, screen)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func contains(sub string) func(string) bool {
	return func(s string) bool { return strings.Contains(s, sub) }
}

var headerRates = regexp.MustCompile(`↓\s+[0-9.]+ (?:[KMGTP]i)?B/s\s+↑\s+[0-9.]+ (?:[KMGTP]i)?B/s`)

// checkTUI walks what a person would do: look at the peers, watch the
// rates, open help and the map, quit.
func (s *tmuxSession) checkTUI(peerRow *regexp.Regexp) {
	t := s.t
	t.Helper()
	s.waitFor("the TUI header", contains("swarmscope"))
	s.send("2")
	screen := s.waitFor("peer rows with their origin", peerRow.MatchString)
	t.Logf("peers pane:\n%s", screen)

	first := headerRates.FindString(s.waitFor("rates in the header", headerRates.MatchString))
	s.waitFor("rates to change from "+first, func(sc string) bool {
		r := headerRates.FindString(sc)
		return r != "" && r != first
	})

	s.send("?")
	s.waitFor("the help overlay", contains("Peer origins"))
	s.send("Escape")
	s.waitFor("help to close", func(sc string) bool { return !strings.Contains(sc, "Peer origins") })

	s.send("m")
	screen = s.waitFor("the connectivity map", contains("THE INTERNET"))
	t.Logf("map:\n%s", screen)
	s.send("m")
	s.waitFor("the map to close", func(sc string) bool { return !strings.Contains(sc, "THE INTERNET") })

	s.send("q")
	s.waitFor("a clean exit", contains("exit=0"))
	for _, f := range []string{"alternate_on", "mouse_any_flag", "mouse_button_flag", "mouse_standard_flag"} {
		v, err := s.cmd("display-message", "-p", "-t", "e2e", "#{"+f+"}")
		if err != nil {
			t.Fatalf("display-message %s: %v", f, err)
		}
		if strings.TrimSpace(v) != "0" {
			t.Errorf("after exit %s = %q: terminal not restored", f, strings.TrimSpace(v))
		}
	}
	if v, _ := s.cmd("display-message", "-p", "-t", "e2e", "#{cursor_flag}"); strings.TrimSpace(v) != "1" {
		t.Errorf("cursor hidden after exit (cursor_flag %q)", strings.TrimSpace(v))
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// shellJoin quotes args for sh.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}
