package labtest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/labtest/nslab"
)

// labSwarm is a lab with a public opentracker and one test torrent.
type labSwarm struct {
	t           *testing.T
	lab         *nslab.Lab
	trackerHost *nslab.Host
	tracker     *nslab.Tracker
	tt          *nslab.Torrent
}

// newSwarm makes a lab, a torrent of sz bytes and an opentracker that allows
// it. With udp the torrent announces over UDP, otherwise over HTTP.
func newSwarm(t *testing.T, sz int64, udp bool) *labSwarm {
	t.Helper()
	nslab.Require(t, "opentracker")
	l := nslab.New(t)
	trh := l.PublicHost("tracker", 1)
	scheme := "http"
	if udp {
		scheme = "udp"
	}
	announce := fmt.Sprintf("%s://%s:6969/announce", scheme, trh.IP())
	tt, err := nslab.MakeTorrent(l.Dir(), "lab-"+l.Prefix()+".bin", sz, uint64(time.Now().UnixNano()), announce)
	if err != nil {
		t.Fatal(err)
	}
	return &labSwarm{t: t, lab: l, trackerHost: trh, tracker: trh.StartOpentracker(tt.InfoHash), tt: tt}
}

// transmissionSeeder starts a Transmission seeder of the torrent on h and
// waits until the tracker lists it. kBps > 0 caps its upload rate.
func (s *labSwarm) transmissionSeeder(h *nslab.Host, kBps int) *nslab.Transmission {
	s.t.Helper()
	nslab.Require(s.t, "transmission-daemon", "transmission-remote")
	tr := h.StartTransmission(s.tt.DataDir, 51413)
	if err := tr.Add(s.tt.Path); err != nil {
		s.t.Fatal(err)
	}
	if err := tr.WaitDone(90 * time.Second); err != nil {
		s.t.Fatalf("transmission seeder did not verify its data: %v\n%s", err, tr.Info())
	}
	if kBps > 0 {
		if err := tr.SetUploadLimit(kBps); err != nil {
			s.t.Fatal(err)
		}
	}
	s.waitSeeders(1)
	return tr
}

func (s *labSwarm) waitSeeders(n int) {
	s.t.Helper()
	if err := s.tracker.WaitSeeders(s.trackerHost, s.tt.InfoHash, n, 90*time.Second); err != nil {
		s.t.Fatal(err)
	}
}

func (s *labSwarm) waitPeers(n int) {
	s.t.Helper()
	if err := s.tracker.WaitPeers(s.trackerHost, s.tt.InfoHash, n, 90*time.Second); err != nil {
		s.t.Fatal(err)
	}
}

// seedDir makes a directory that already holds the torrent's data, for a
// swarmscope that seeds.
func (s *labSwarm) seedDir(name string) string {
	s.t.Helper()
	dir := filepath.Join(s.lab.Dir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Link(filepath.Join(s.tt.DataDir, s.tt.Name), filepath.Join(dir, s.tt.Name)); err != nil {
		s.t.Fatal(err)
	}
	return dir
}

// emptyDir makes an empty download directory.
func (s *labSwarm) emptyDir(name string) string {
	s.t.Helper()
	dir := filepath.Join(s.lab.Dir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.t.Fatal(err)
	}
	return dir
}

// verifyIn checks the downloaded file under dir (swarmscope may nest it).
func (s *labSwarm) verifyIn(dir string) {
	s.t.Helper()
	var found string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == s.tt.Name && found == "" {
			found = p
		}
		return nil
	})
	if found == "" {
		s.t.Fatalf("no %s under %s", s.tt.Name, dir)
	}
	if err := s.tt.Verify(found); err != nil {
		s.t.Fatal(err)
	}
}
