package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/swarmscope/swarmscope/engine"
	"github.com/swarmscope/swarmscope/engine/maketorrent"
)

// binary builds the real swarmscope once per test run.
var binary string

func TestMain(m *testing.M) {
	if out := os.Getenv(rssChildEnv); out != "" {
		os.Exit(rssChild(out, os.Args[1:]))
	}
	dir, err := os.MkdirTemp("", "swarmscope-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "swarmscope")
	cmd := exec.Command("go", "build", "-o", binary, "github.com/swarmscope/swarmscope")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building swarmscope:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func runBinary(t *testing.T, timeout time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("swarmscope %v hung for %s; stderr: %s", args, timeout, errb.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

func writeTorrent(t *testing.T, path string, info metainfo.Info) {
	t.Helper()
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	mi := metainfo.MetaInfo{InfoBytes: ib}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := mi.Write(f); err != nil {
		t.Fatal(err)
	}
}

func TestBadInputExitsTwoWithOneLine(t *testing.T) {
	tmp := t.TempDir()
	corrupt := filepath.Join(tmp, "corrupt.torrent")
	os.WriteFile(corrupt, []byte("d8:announce3:abce4:infod6:lengthi-"), 0o644)
	empty := filepath.Join(tmp, "empty.torrent")
	os.WriteFile(empty, nil, 0o644)
	escape := filepath.Join(tmp, "escape.torrent")
	writeTorrent(t, escape, metainfo.Info{Name: "x", PieceLength: 16384, Pieces: make([]byte, 20),
		Files: []metainfo.FileInfo{{Length: 10, Path: []string{"..", "..", "evil"}}}})
	abs := filepath.Join(tmp, "abs.torrent")
	writeTorrent(t, abs, metainfo.Info{Name: "x", PieceLength: 16384, Pieces: make([]byte, 20),
		Files: []metainfo.FileInfo{{Length: 10, Path: []string{"/etc/evil"}}}})
	badName := filepath.Join(tmp, "badname.torrent")
	writeTorrent(t, badName, metainfo.Info{Name: "..", PieceLength: 16384, Pieces: make([]byte, 20), Length: 10})
	zeroPiece := filepath.Join(tmp, "zeropiece.torrent")
	writeTorrent(t, zeroPiece, metainfo.Info{Name: "x", PieceLength: 0, Pieces: make([]byte, 20), Length: 10})

	dl := filepath.Join(tmp, "dl")
	cases := []struct {
		name string
		args []string
		want string // in the message
	}{
		{"unknown flag", []string{"--bogus"}, "-bogus"},
		{"bad flag value", []string{"--port", "x", "a"}, "-port"},
		{"port out of range", []string{"--port", "70000", "a"}, "70000"},
		{"missing file", []string{filepath.Join(tmp, "nope.torrent")}, "nope.torrent"},
		{"corrupt torrent", []string{corrupt}, "corrupt.torrent"},
		{"empty torrent", []string{empty}, "empty.torrent"},
		{"bad magnet hash", []string{"magnet:?xt=urn:btih:1234"}, "magnet"},
		{"magnet without hash", []string{"magnet:?dn=hello"}, "magnet"},
		{"garbage magnet", []string{"magnet:%%%"}, "magnet"},
		{"bad hex", []string{"0123456789abcdef0123456789abcdef0123456g"}, "0123456789abcdef"},
		{"zero hash", []string{strings.Repeat("0", 40)}, "zeros"},
		{"path escape", []string{escape}, "escape"},
		{"absolute path", []string{abs}, "evil"},
		{"dot-dot name", []string{badName}, "name"},
		{"zero piece length", []string{zeroPiece}, "piece length"},
		{"no source", []string{"--headless"}, "SOURCE"},
		{"bad peer", []string{"--peer", "nohost", strings.Repeat("a", 40)}, "nohost"},
		{"nat bad flag", []string{"nat", "--bogus"}, "-bogus"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"--headless", "--no-upnp", "--port", "0", "--dir", dl}, c.args...)
			if c.args[0] == "nat" {
				args = c.args
			}
			r := runBinary(t, time.Minute, args...)
			if r.code != ExitUsage {
				t.Errorf("exit code %d, want %d; stderr: %q", r.code, ExitUsage, r.stderr)
			}
			msg := strings.TrimRight(r.stderr, "\n")
			if strings.Count(msg, "\n") != 0 || msg == "" {
				t.Errorf("want one line on stderr, got %q", r.stderr)
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("message %q does not name %q", msg, c.want)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
				t.Errorf("stack trace: %s", r.stderr)
			}
		})
	}
	// Nothing was written outside the download directory.
	for _, p := range []string{filepath.Join(tmp, "evil"), filepath.Join(filepath.Dir(tmp), "evil")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was written", p)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	if r := runBinary(t, time.Minute, "--version"); r.code != 0 || !strings.HasPrefix(r.stdout, "swarmscope ") {
		t.Errorf("--version: %+v", r)
	}
	for _, args := range [][]string{{"--help"}, {"nat", "--help"}, {"demo", "--help"}} {
		if r := runBinary(t, time.Minute, args...); r.code != 0 || !strings.Contains(r.stdout, "Usage") {
			t.Errorf("%v: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
}

// tickLine is the part of a --json tick or summary the tests read.
type tickLine struct {
	Type     string `json:"type"`
	Torrents []struct {
		Progress float64 `json:"progress"`
	} `json:"torrents"`
	Paths map[string]struct {
		DownBytes int64 `json:"down_bytes"`
		UpBytes   int64 `json:"up_bytes"`
	} `json:"paths"`
	Complete bool `json:"complete"`
}

// TestResumeAfterSIGKILL kills a download half way and shows that the
// restarted client fetches only what it did not already verify.
func TestResumeAfterSIGKILL(t *testing.T) {
	tmp := t.TempDir()
	seedDir, dl := filepath.Join(tmp, "seed"), filepath.Join(tmp, "dl")
	mt, err := maketorrent.Make(seedDir, filepath.Join(tmp, "r.torrent"), maketorrent.Spec{
		Name: "resume", FileSizes: []int64{6 << 20, 3<<20 + 99}, PieceLength: 64 << 10, Seed: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	seeder, err := engine.New(context.Background(), engine.Config{DataDir: seedDir, ListenHost: "127.0.0.1", NoDHT: true, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	if _, err := seeder.AddSource(context.Background(), mt.TorrentPath); err != nil {
		t.Fatal(err)
	}
	peer := fmt.Sprintf("127.0.0.1:%d", seeder.ListenPort())
	args := []string{"--json", "--no-upnp", "--no-dht", "--stun", "", "--port", "0", "--bind", "127.0.0.1", "--dir", dl, "--peer", peer}

	// First run: throttled so that it is surely mid-download when killed.
	cmd := exec.Command(binary, append(args, "--download-limit", "1000000", mt.TorrentPath)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	var killedAt float64
	for sc.Scan() {
		var l tickLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Type == "tick" && len(l.Torrents) == 1 && l.Torrents[0].Progress >= 0.5 {
			killedAt = l.Torrents[0].Progress
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	cmd.Wait()
	if killedAt == 0 || killedAt >= 1 {
		t.Fatalf("first run did not stop mid-download (progress %v)", killedAt)
	}

	// Second run: must finish, and fetch no more than what was missing.
	r := runBinary(t, 3*time.Minute, append(args, mt.TorrentPath)...)
	if r.code != 0 {
		t.Fatalf("second run exit %d: %s", r.code, r.stderr)
	}
	var sum tickLine
	firstProgress := -1.0
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var l tickLine
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		if l.Type == "summary" {
			sum = l
		}
		if l.Type == "tick" && firstProgress < 0 && len(l.Torrents) == 1 && l.Torrents[0].Progress > 0 {
			firstProgress = l.Torrents[0].Progress
		}
	}
	// The verified pieces of the first run count from the start.
	if firstProgress < killedAt {
		t.Errorf("second run started at %.0f%%, first run had verified %.0f%%", 100*firstProgress, 100*killedAt)
	}
	if !sum.Complete {
		t.Fatalf("no complete summary in output:\n%s", r.stdout)
	}
	fetched := sum.Paths["outbound"].DownBytes
	missing := int64(float64(mt.Size) * (1 - killedAt))
	// Pieces in flight at the kill (up to a few hundred outstanding 16 KiB
	// requests) are fetched again.
	if fetched > missing+3<<19 {
		t.Errorf("second run fetched %d bytes; only about %d were missing after the kill at %.0f%%", fetched, missing, 100*killedAt)
	}
	if fetched == 0 {
		t.Errorf("second run fetched nothing, but the first stopped at %.0f%%", 100*killedAt)
	}
	if err := maketorrent.SameContent(mt.ContentPath, filepath.Join(dl, "resume")); err != nil {
		t.Fatalf("data after resume: %v", err)
	}
}
