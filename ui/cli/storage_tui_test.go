package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/maketorrent"
)

// TestTUIDiskFullShowsErrorAndRestoresTerminal is the full-disk test under
// the TUI (a real terminal: tmux), where anacrolix's mmap storage used to
// die of SIGBUS and leave the terminal in the alternate screen with echo
// off. The download onto a 12 MiB tmpfs of a 24 MiB torrent must put the
// torrent in the error state, say why on one line, and quitting must give
// back a sane terminal (exit 0: quitting is the user's choice). A second
// run, started on the still full disk, is retried with p once there is
// room, and completes.
func TestTUIDiskFullShowsErrorAndRestoresTerminal(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux not installed")
	}
	tmp := t.TempDir()
	dl := mountTmpfs(t, filepath.Join(tmp, "dl"), 12<<20)
	seedDir := filepath.Join(tmp, "seed")
	mt, err := maketorrent.Make(seedDir, filepath.Join(tmp, "full.torrent"), maketorrent.Spec{
		Name: "full", FileSizes: []int64{16 << 20, 8 << 20}, PieceLength: 256 << 10, Seed: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	flags := loopbackSeeder(t, seedDir, mt, dl)
	flags = flags[1:] // no --json: the TUI
	if flags[0] == "--json" {
		t.Fatal("loopbackSeeder's flags changed; drop --json properly")
	}

	sock := fmt.Sprintf("swarmscope-diskfull-%d-%d", os.Getpid(), time.Now().UnixNano())
	tm := func(args ...string) string {
		out, _ := exec.Command(tmux, append([]string{"-L", sock}, args...)...).CombinedOutput()
		return string(out)
	}
	defer tm("kill-server")
	tm("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "160", "-y", "48", "-c", tmp,
		"env", "PS1=$ ", "TERM=xterm-256color", "HOME="+tmp, "sh")
	screen := func() string { return tm("capture-pane", "-p", "-t", "t") }
	waitFor := func(what string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			s := screen()
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; screen:\n%s", what, s)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	run := 0
	start := func() {
		run++
		tm("send-keys", "-t", "t", "clear; "+shellQuote(append([]string{binary}, append(flags, mt.TorrentPath)...)...)+fmt.Sprintf(`; echo "EXIT%d:$?"`, run), "Enter")
	}
	// The error as the TUI shows it: the torrent's row in the error state
	// with the reason, and the reason whole on one screen line (the status
	// line): which file, what failed, how much is still to write and what
	// is free where.
	row := regexp.MustCompile(`(?m)^.*full ✗ disk full writing full/.* error .*$`)
	showsError := func(s string) bool {
		if !row.MatchString(s) {
			return false
		}
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, "disk full writing full/") && strings.Contains(l, "still to write") && strings.Contains(l, "free in") {
				return true
			}
		}
		return false
	}
	quit := func() {
		t.Helper()
		tm("send-keys", "-t", "t", "q")
		exit := regexp.MustCompile(fmt.Sprintf(`EXIT%d:(\d+)`, run))
		s := waitFor("the TUI to exit", exit.MatchString)
		if code := exit.FindStringSubmatch(s)[1]; code != "0" {
			t.Errorf("run %d: exit %s after q, want 0; screen:\n%s", run, code, s)
		}
		for _, bad := range []string{"SIGBUS", "goroutine ", "panic"} {
			if strings.Contains(s, bad) {
				t.Errorf("run %d: the screen after exit shows %q:\n%s", run, bad, s)
			}
		}
		if v := strings.TrimSpace(tm("display-message", "-p", "-t", "t", "#{alternate_on}")); v != "0" {
			t.Errorf("run %d: alternate screen still on after exit (%q)", run, v)
		}
		if v := strings.TrimSpace(tm("display-message", "-p", "-t", "t", "#{cursor_flag}")); v != "1" {
			t.Errorf("run %d: cursor hidden after exit (cursor_flag %q)", run, v)
		}
		// The line discipline as a shell needs it: canonical mode and echo.
		mark := fmt.Sprintf("STTY%d", run)
		tm("send-keys", "-t", "t", "clear; echo "+mark+" $(stty -a | tr -s ' ;\\n' ' ')", "Enter")
		s = waitFor("stty -a", regexp.MustCompile(mark+` .*\S`).MatchString)
		fields := strings.Fields(s[strings.Index(s, mark+" "):])
		for _, want := range []string{"icanon", "echo", "isig", "icrnl", "opost"} {
			if !containsWord(fields, want) {
				t.Errorf("run %d: terminal not restored: stty -a lacks %q (%s)", run, want, strings.Join(fields, " "))
			}
		}
	}

	// Run 1: the disk fills; the error shows; q restores the terminal.
	start()
	s := waitFor("the error state with its reason", showsError)
	t.Logf("run 1, disk full:\n%s", s)
	quit()

	// Run 2: still full at the start; the error shows again; space is
	// freed, p retries, and the download completes.
	start()
	waitFor("the error state at the start of run 2", showsError)
	remountTmpfs(t, dl, 64<<20)
	tm("send-keys", "-t", "t", "1") // the torrents pane, where p acts on the selected torrent
	tm("send-keys", "-t", "t", "p")
	done := regexp.MustCompile(`(?m)^.*› full  +.* 100% .* seeding `)
	s = waitFor("the download to complete after p", func(s string) bool {
		return !row.MatchString(s) && done.MatchString(s)
	})
	t.Logf("run 2, after p:\n%s", s)
	quit()
	if err := maketorrent.SameContent(mt.ContentPath, filepath.Join(dl, "full")); err != nil {
		t.Fatalf("data after the retry: %v", err)
	}
}

func shellQuote(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func containsWord(fields []string, w string) bool {
	for _, f := range fields {
		if f == w {
			return true
		}
	}
	return false
}
