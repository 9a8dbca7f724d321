package labtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/labtest/nslab"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// TestTrackerStates announces one torrent to four trackers: opentracker
// over HTTP and over UDP (working; a swarmscope seeder announced first, so
// both return it), a second opentracker that does not allow the torrent
// (a tracker that answers with a failure reason), and a port where nothing
// listens (a tracker that refuses the connection). Every state must be in
// the JSON ticks within 10 s of the first tick, with the facts behind it.
func TestTrackerStates(t *testing.T) {
	nslab.Require(t, "opentracker", "mktorrent")
	needFeature(t, "headless", "headless JSON mode")
	l := nslab.New(t)
	good := l.PublicHost("tracker", 1)
	picky := l.PublicHost("picky", 1)
	seedHost := l.PublicHost("seeder", 1)
	leechHost := l.PublicHost("leecher", 1)
	httpURL := fmt.Sprintf("http://%s:6969/announce", good.IP())
	udpURL := fmt.Sprintf("udp://%s:6969/announce", good.IP())
	errURL := fmt.Sprintf("http://%s:6969/announce", picky.IP())
	refusedURL := fmt.Sprintf("http://%s:7070/announce", good.IP())
	tt, err := nslab.MakeTorrent(l.Dir(), "trackers-"+l.Prefix()+".bin", 1<<20, 7, httpURL, udpURL, errURL, refusedURL)
	if err != nil {
		t.Fatal(err)
	}
	tr := good.StartOpentracker(tt.InfoHash)
	picky.StartOpentracker() // allows nothing: every announce gets a failure reason
	s := &labSwarm{t: t, lab: l, trackerHost: good, tracker: tr, tt: tt}

	seeder := startHeadless(t, seedHost, s.seedDir("seed"), 6881, tt.Path, "--seed")
	defer seeder.Stop()
	if err := tr.WaitSeeders(good, tt.InfoHash, 1, 90*time.Second); err != nil {
		c, i, _ := tr.Scrape(good, tt.InfoHash)
		out := seeder.Stdout()
		if len(out) > 4000 {
			out = out[len(out)-4000:]
		}
		t.Fatalf("%v (scrape: %d complete, %d incomplete)\nseeder stdout (tail):\n%s\nseeder stderr:\n%s", err, c, i, out, seeder.Output())
	}

	leech := startHeadless(t, leechHost, s.emptyDir("leech"), 6881, tt.Path, "--download-limit", "1")
	defer leech.Stop()
	want := map[string]swarm.TrackerStatus{
		httpURL: swarm.TrackerWorking, udpURL: swarm.TrackerWorking,
		errURL: swarm.TrackerError, refusedURL: swarm.TrackerError,
	}
	var first time.Time
	var got map[string]swarm.TrackerInfo
	err = nslab.WaitFor(90*time.Second, func() (bool, error) {
		o := leech.parse()
		if len(o.Ticks) == 0 {
			return false, fmt.Errorf("no tick yet")
		}
		if first.IsZero() {
			first = o.Ticks[0].Time
		}
		got = map[string]swarm.TrackerInfo{}
		for _, tk := range o.Ticks {
			if tk.Time.Sub(first) > 10*time.Second {
				break
			}
			ti, ok := tk.torrent(tt.InfoHash)
			if !ok {
				continue
			}
			for _, tri := range ti.Trackers {
				if tri.Status == want[tri.URL] {
					if _, seen := got[tri.URL]; !seen {
						got[tri.URL] = tri
					}
				}
			}
		}
		if len(got) == len(want) {
			return true, nil
		}
		if last := o.Ticks[len(o.Ticks)-1].Time; last.Sub(first) > 10*time.Second {
			return false, fmt.Errorf("after 10 s of ticks only %d of %d trackers reached their state: %+v", len(got), len(want), got)
		}
		return false, fmt.Errorf("%d of %d trackers in their state", len(got), len(want))
	})
	if err != nil {
		t.Fatalf("%v\nleecher stderr:\n%s", err, leech.Output())
	}
	for _, u := range []string{httpURL, udpURL} {
		g := got[u]
		if g.Peers < 1 || g.Seeders < 1 || g.Interval <= 0 || g.LastAnnounce.IsZero() || g.NextAnnounce.IsZero() {
			t.Errorf("%s working but without the announce's facts: %+v", u, g)
		}
	}
	if g := got[httpURL]; g.MinInterval <= 0 {
		t.Errorf("opentracker's min interval not read: %+v", g)
	}
	if g := got[errURL]; !strings.Contains(g.Error, "not authorized") {
		t.Errorf("failure reason not shown: %q", g.Error)
	}
	if g := got[refusedURL]; !strings.Contains(g.Error, "refused") {
		t.Errorf("refusal not named: %q", g.Error)
	}
	// The headless event stream names the trackers too.
	o := leech.parse()
	var announced, failed bool
	for _, ev := range o.Events {
		if ev.Kind == swarm.EventTrackerAnnounce && ev.Tracker == udpURL {
			announced = true
		}
		if ev.Kind == swarm.EventTrackerError && ev.Tracker == refusedURL {
			failed = true
		}
	}
	if !announced || !failed {
		t.Errorf("tracker events missing (announce over UDP %v, error of the refusing one %v)", announced, failed)
	}
}
