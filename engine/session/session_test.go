package session

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func ih(i int) string { return fmt.Sprintf("%040x", i+1) }

func TestRoundTrip(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := []Record{
		{InfoHash: ih(1), Source: "magnet:?xt=urn:btih:" + ih(1), Kind: "magnet", Dir: "/d", AddedAt: t0, Paused: true, Priorities: []string{"skip", "high"}},
		{InfoHash: ih(0), Source: "a.torrent", Kind: "torrent-file", Dir: "/d", AddedAt: t0.Add(time.Second), SeedRatio: 1.5, SeedTime: time.Hour, Uploaded: 7, Downloaded: 9},
	}
	for _, r := range want {
		if err := s.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveMetainfo(ih(0), []byte("d4:infod...ee")); err != nil {
		t.Fatal(err)
	}
	got, probs, err := s.Load()
	if err != nil || len(probs) > 0 {
		t.Fatal(err, probs)
	}
	if len(got) != 2 || got[0].InfoHash != ih(1) || got[1].InfoHash != ih(0) {
		t.Fatalf("order by added time: %+v", got)
	}
	if !got[0].Paused || strings.Join(got[0].Priorities, ",") != "skip,high" || got[1].SeedRatio != 1.5 || got[1].SeedTime != time.Hour || got[1].Uploaded != 7 {
		t.Fatalf("fields lost: %+v", got)
	}
	if !s.HasMetainfo(ih(0)) || s.HasMetainfo(ih(1)) {
		t.Fatal("metainfo presence wrong")
	}
	if err := s.Remove(ih(0)); err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.Load()
	if len(got) != 1 || s.HasMetainfo(ih(0)) {
		t.Fatalf("remove left %+v", got)
	}
}

func TestDamagedFilesAreProblemsNotFailures(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	s.Save(Record{InfoHash: ih(0), Source: ih(0), Kind: "infohash"})
	os.WriteFile(filepath.Join(dir, ih(1)+".json"), []byte(`{"version":1,"infohash":"`), 0o644)
	os.WriteFile(filepath.Join(dir, ih(2)+".json"), []byte(`{"version":99,"infohash":"`+ih(2)+`"}`), 0o644)
	os.WriteFile(filepath.Join(dir, ih(3)+".json"), []byte(`{"version":1,"infohash":"`+ih(4)+`"}`), 0o644)
	os.WriteFile(filepath.Join(dir, ih(5)+".json"), []byte(`{"version":1,"infohash":"../../etc/passwd"}`), 0o644)
	got, probs, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].InfoHash != ih(0) {
		t.Fatalf("good record lost: %+v", got)
	}
	if len(probs) != 4 {
		t.Fatalf("want 4 problems, got %v", probs)
	}
	if err := s.Save(Record{InfoHash: "../x"}); err == nil {
		t.Fatal("a path as info hash was accepted")
	}
}

// TestKill9DuringWrites kills a process that rewrites records and metainfo
// as fast as it can, many times, at unplanned instants: every time, every
// record loads, and each is one of the versions written in full.
func TestKill9DuringWrites(t *testing.T) {
	if os.Getenv("SESSION_WRITER_DIR") != "" {
		return // the child is TestMain's business
	}
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 1<<20) // a metainfo big enough to be caught mid-write
	const torrents = 4
	for round := 0; round < 12; round++ {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "SESSION_WRITER_DIR="+dir, "SESSION_WRITER_N="+strconv.Itoa(torrents))
		var out bytes.Buffer
		cmd.Stdout = &out
		cmd.Stderr = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until it has written at least one round, then a little more
		// (varying, so the kill lands at different points of a write).
		deadline := time.Now().Add(60 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("writer never got going: %s", out.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(round*7%23) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		recs, probs, err := s.Load()
		if err != nil || len(probs) > 0 {
			t.Fatalf("round %d: session unusable after kill -9: %v %v", round, err, probs)
		}
		if len(recs) != torrents {
			t.Fatalf("round %d: %d of %d records survived", round, len(recs), torrents)
		}
		for _, r := range recs {
			if r.Uploaded != r.Downloaded*2 || r.Name != "t"+strconv.FormatInt(r.Downloaded, 10) {
				t.Fatalf("round %d: torn record %+v", round, r)
			}
			b, err := os.ReadFile(s.MetainfoPath(r.InfoHash))
			if err != nil {
				t.Fatalf("round %d: metainfo: %v", round, err)
			}
			if len(b) != len(big)+1 || !bytes.Equal(b[1:], big) {
				t.Fatalf("round %d: torn metainfo of %d bytes", round, len(b))
			}
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), tmpPrefix) {
				t.Fatalf("round %d: Open left temporary file %s", round, e.Name())
			}
		}
		os.Remove(filepath.Join(dir, "ready"))
	}
}

func TestMain(m *testing.M) {
	if dir := os.Getenv("SESSION_WRITER_DIR"); dir != "" {
		writer(dir)
		return
	}
	os.Exit(m.Run())
}

// writer rewrites every record and metainfo forever; the parent kills it.
func writer(dir string) {
	n, _ := strconv.Atoi(os.Getenv("SESSION_WRITER_N"))
	s, err := Open(dir)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	big := bytes.Repeat([]byte("x"), 1<<20)
	recs, _, _ := s.Load()
	gen := int64(0)
	for _, r := range recs {
		gen = max(gen, r.Downloaded)
	}
	for {
		gen++
		for i := 0; i < n; i++ {
			r := Record{InfoHash: ih(i), Kind: "magnet", Source: "magnet:?xt=urn:btih:" + ih(i), Name: "t" + strconv.FormatInt(gen, 10), Downloaded: gen, Uploaded: 2 * gen}
			if err := s.Save(r); err != nil {
				fmt.Println(err)
				os.Exit(1)
			}
			if err := s.SaveMetainfo(ih(i), append([]byte{byte(gen)}, big...)); err != nil {
				fmt.Println(err)
				os.Exit(1)
			}
		}
		if gen == 1 || !exists(filepath.Join(dir, "ready")) {
			os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644)
		}
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
