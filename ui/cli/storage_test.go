package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine"
	"github.com/swarmscope/swarmscope/engine/maketorrent"
)

// loopbackSeeder seeds mt from seedDir on 127.0.0.1 and returns the
// download flags that reach only it.
func loopbackSeeder(t *testing.T, seedDir string, mt maketorrent.Result, dl string) []string {
	t.Helper()
	seeder, err := engine.New(context.Background(), engine.Config{DataDir: seedDir, ListenHost: "127.0.0.1", NoDHT: true, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seeder.Close() })
	if _, err := seeder.AddSource(context.Background(), mt.TorrentPath); err != nil {
		t.Fatal(err)
	}
	return []string{"--json", "--no-upnp", "--no-dht", "--stun", "", "--port", "0", "--bind", "127.0.0.1", "--dir", dl,
		"--peer", fmt.Sprintf("127.0.0.1:%d", seeder.ListenPort())}
}

// summaryOf returns the run's summary line: whether it completed, the
// torrent's progress, and the payload it fetched.
func summaryOf(t *testing.T, stdout string) (complete bool, progress float64, fetched int64) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var l struct {
			Type     string `json:"type"`
			Complete bool   `json:"complete"`
			Torrents []struct {
				Progress float64 `json:"progress"`
			} `json:"torrents"`
			Paths map[string]struct {
				DownBytes int64 `json:"down_bytes"`
			} `json:"paths"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Type != "summary" {
			continue
		}
		for _, p := range l.Paths {
			fetched += p.DownBytes
		}
		if len(l.Torrents) == 1 {
			progress = l.Torrents[0].Progress
		}
		return l.Complete, progress, fetched
	}
	t.Fatalf("no summary in output:\n%s", stdout)
	return
}

func oneStderrLine(t *testing.T, r result, wants ...string) {
	t.Helper()
	msg := strings.TrimSpace(r.stderr)
	if strings.Count(msg, "\n") != 0 {
		t.Errorf("want one line on stderr, got %q", r.stderr)
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("stderr %q does not say %q", msg, w)
		}
	}
	for _, bad := range []string{"goroutine", "SIGBUS", "panic"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("stderr has %q: %s", bad, r.stderr)
		}
	}
}

// TestDiskFullErrorStateThenResume downloads onto a 12 MiB tmpfs a torrent
// of 24 MiB: the download stops with one line and exit 1 (no SIGBUS), the
// pieces verified before the disk filled are kept, and once there is room
// a second run fetches only the rest.
func TestDiskFullErrorStateThenResume(t *testing.T) {
	tmp := t.TempDir()
	dl := mountTmpfs(t, filepath.Join(tmp, "dl"), 12<<20)
	seedDir := filepath.Join(tmp, "seed")
	mt, err := maketorrent.Make(seedDir, filepath.Join(tmp, "full.torrent"), maketorrent.Spec{
		Name: "full", FileSizes: []int64{16 << 20, 8 << 20}, PieceLength: 256 << 10, Seed: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	args := append(loopbackSeeder(t, seedDir, mt, dl), mt.TorrentPath)

	r := runBinary(t, 3*time.Minute, args...)
	if r.code != ExitFailure {
		t.Fatalf("full disk: exit %d, want %d; stderr %q", r.code, ExitFailure, r.stderr)
	}
	oneStderrLine(t, r, "disk full writing full/dir", "still to write", "free in "+dl)
	_, kept, _ := summaryOf(t, r.stdout)
	if kept <= 0.2 || kept >= 0.9 {
		t.Errorf("progress at the error %.2f; want what fits in 12 MiB of 24", kept)
	}

	remountTmpfs(t, dl, 64<<20)
	r = runBinary(t, 3*time.Minute, args...)
	if r.code != 0 {
		t.Fatalf("after freeing space: exit %d; stderr %q", r.code, r.stderr)
	}
	complete, _, fetched := summaryOf(t, r.stdout)
	if !complete {
		t.Fatal("second run did not complete")
	}
	// What was verified before the disk filled is kept: the second run
	// fetches less than all. (Not exactly the rest: the first run's failed
	// writes changed the files' mtime, so the kept pieces are re-hashed, and
	// anacrolix requests some of them while they wait for the hasher.)
	missing := int64(float64(mt.Size) * (1 - kept))
	if fetched >= mt.Size-2<<20 || fetched == 0 {
		t.Errorf("second run fetched %d bytes of %d; %d were missing", fetched, mt.Size, missing)
	}
	if err := maketorrent.SameContent(mt.ContentPath, filepath.Join(dl, "full")); err != nil {
		t.Fatalf("data after resume: %v", err)
	}
}

// TestChangedDataFoundAndRepaired flips bytes in finished files: a change
// that moves the file's mtime is found at the next start, one that hides
// it (mtime restored) only by --verify; both are fetched again.
func TestChangedDataFoundAndRepaired(t *testing.T) {
	tmp := t.TempDir()
	seedDir, dl := filepath.Join(tmp, "seed"), filepath.Join(tmp, "dl")
	mt, err := maketorrent.Make(seedDir, filepath.Join(tmp, "flip.torrent"), maketorrent.Spec{
		Name: "flip", FileSizes: []int64{3 << 20, 2<<20 + 7}, PieceLength: 64 << 10, Seed: 11,
	})
	if err != nil {
		t.Fatal(err)
	}
	args := loopbackSeeder(t, seedDir, mt, dl)
	run := func(check bool, extra ...string) int64 {
		t.Helper()
		r := runBinary(t, 3*time.Minute, append(append(args, extra...), mt.TorrentPath)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d; stderr %q", extra, r.code, r.stderr)
		}
		complete, _, fetched := summaryOf(t, r.stdout)
		if !complete {
			t.Fatalf("%v: not complete", extra)
		}
		if err := maketorrent.SameContent(mt.ContentPath, filepath.Join(dl, "flip")); check && err != nil {
			t.Fatalf("%v: data: %v", extra, err)
		}
		return fetched
	}
	run(true)
	a, b := filepath.Join(dl, "flip", "dir0", "file00.bin"), filepath.Join(dl, "flip", "dir1", "file01.bin")

	flip(t, a, 1<<20+5, false)
	if got := run(true); got == 0 || got > 256<<10 {
		t.Errorf("after flipping bytes in %s: fetched %d bytes, want the one piece again", a, got)
	}

	flip(t, b, 4096, true)
	if got := run(false); got != 0 {
		t.Errorf("size and mtime unchanged: fetched %d bytes without --verify (the state should be trusted)", got)
	}
	if got := run(true, "--verify"); got == 0 || got > 256<<10 {
		t.Errorf("--verify: fetched %d bytes, want the one flipped piece again", got)
	}
}

// flip inverts 4 bytes of path at off; keepTime restores the mtime, as a
// tool that preserves timestamps would.
func flip(t *testing.T, path string, off int64, keepTime bool) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] ^= 0xff
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if keepTime {
		if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	} else {
		// mtime granularity: make sure the change is visible in the time.
		later := fi.ModTime().Add(time.Second)
		os.Chtimes(path, later, later)
	}
}

// TestExistingFilesNeverShrunk puts the user's files at a torrent's target
// paths: an unrelated larger one is refused with a line naming it and left
// as it was; a shorter one holding the first part of the right data is
// used as candidate data (its pieces are not fetched) and grown, never cut.
func TestExistingFilesNeverShrunk(t *testing.T) {
	tmp := t.TempDir()
	t.Run("larger refused", func(t *testing.T) {
		seedDir, dl := filepath.Join(tmp, "seed1"), filepath.Join(tmp, "dl1")
		mt, err := maketorrent.Make(seedDir, filepath.Join(tmp, "small.torrent"), maketorrent.Spec{
			Name: "victim.bin", FileSizes: []int64{40000}, PieceLength: 16 << 10, Seed: 2,
		})
		if err != nil {
			t.Fatal(err)
		}
		mine := bytes.Repeat([]byte("the user's own data\n"), 10000) // 200,000 bytes
		os.MkdirAll(dl, 0o755)
		victim := filepath.Join(dl, "victim.bin")
		if err := os.WriteFile(victim, mine, 0o644); err != nil {
			t.Fatal(err)
		}
		r := runBinary(t, time.Minute, append(loopbackSeeder(t, seedDir, mt, dl), mt.TorrentPath)...)
		if r.code != ExitFailure {
			t.Fatalf("exit %d, want %d; stderr %q", r.code, ExitFailure, r.stderr)
		}
		oneStderrLine(t, r, "victim.bin", "refusing")
		if got, err := os.ReadFile(victim); err != nil || !bytes.Equal(got, mine) {
			t.Fatalf("the user's file changed: %d bytes, %v", len(got), err)
		}
	})
	t.Run("shorter is candidate data", func(t *testing.T) {
		seedDir, dl := filepath.Join(tmp, "seed2"), filepath.Join(tmp, "dl2")
		mt, err := maketorrent.Make(seedDir, filepath.Join(tmp, "part.torrent"), maketorrent.Spec{
			Name: "part.bin", FileSizes: []int64{4 << 20}, PieceLength: 64 << 10, Seed: 3,
		})
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(mt.ContentPath)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(dl, 0o755)
		if err := os.WriteFile(filepath.Join(dl, "part.bin"), want[:3<<20], 0o644); err != nil {
			t.Fatal(err)
		}
		r := runBinary(t, time.Minute, append(loopbackSeeder(t, seedDir, mt, dl), mt.TorrentPath)...)
		if r.code != 0 {
			t.Fatalf("exit %d; stderr %q", r.code, r.stderr)
		}
		if _, _, fetched := summaryOf(t, r.stdout); fetched > 1<<20+256<<10 {
			t.Errorf("fetched %d bytes; the first 3 MiB of 4 were already there", fetched)
		}
		if err := maketorrent.SameContent(mt.ContentPath, filepath.Join(dl, "part.bin")); err != nil {
			t.Fatal(err)
		}
	})
}

// mountTmpfs mounts a tmpfs of size bytes at dir for the test (root only).
func mountTmpfs(t *testing.T, dir string, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("swarmscope-test", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

func remountTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if err := syscall.Mount("swarmscope-test", dir, "tmpfs", syscall.MS_REMOUNT, fmt.Sprintf("size=%d", size)); err != nil {
		t.Fatal(err)
	}
}
