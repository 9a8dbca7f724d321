package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
)

// dashboardExprs reads the PromQL of every panel of the (untested in
// Grafana) dashboard.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	var out []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	if len(out) == 0 {
		t.Fatal("dashboard has no queries")
	}
	return out
}

// TestDashboardNamesExist: every swarmscope_ name the dashboard queries is
// one the exporter serves.
func TestDashboardNamesExist(t *testing.T) {
	x := New(Options{NoProcessMetrics: true, Snapshot: func() swarm.Snapshot {
		return swarm.Snapshot{Time: t0, Paths: paths(nil), DHT: swarm.DHTInfo{Enabled: true}, Torrents: []swarm.TorrentInfo{{InfoHash: ih, Name: "n", State: swarm.StateDownloading, Size: 1}}}
	}})
	yes := true
	x.ObserveNAT(nat.Report{Time: t0, PublicAddr: "203.0.113.1:1", BehindNAT: &yes, NATType: nat.TypeSymmetric,
		Mapping: nat.BehaviorAddressDependent, Filtering: nat.BehaviorAddressDependent, Reachable: nat.Reachability{Verdict: nat.VerdictOutboundOnly},
		Servers: []nat.ServerResult{{MappedAddr: "203.0.113.1:1"}}}, nil)
	x.AddPortMapper(PortMapper{Protocols: []string{"upnp"}, Transports: []string{"tcp"}, CountsEvents: true,
		Mappings: func() []PortMapping {
			return []PortMapping{{Protocol: "upnp", Transport: "tcp", Lease: time.Hour, Remaining: time.Minute}}
		}})
	x.Observe(swarm.Event{Kind: swarm.EventTrackerAnnounce})
	mfs, err := x.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, mf := range mfs {
		served[mf.GetName()] = true
		if mf.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				served[mf.GetName()+s] = true
			}
		}
	}
	name := regexp.MustCompile(`swarmscope_[a-z_]+`)
	for _, e := range dashboardExprs(t) {
		for _, n := range name.FindAllString(e, -1) {
			if !served[n] {
				t.Errorf("dashboard queries %s, which is not served (in %s)", n, e)
			}
		}
	}
}

// TestDashboardQueriesParse has promtool parse every query (as recording
// rules, with Grafana's variables filled in).
func TestDashboardQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("SWARMSCOPE_LAB") == "1" {
			t.Fatal("SWARMSCOPE_LAB=1 but promtool (Debian package prometheus) is not installed")
		}
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	r := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")
	for i, e := range dashboardExprs(t) {
		q, _ := json.Marshal(r.Replace(e)) // a JSON string is a YAML string
		fmt.Fprintf(&b, "      - record: swarmscope:dashboard_%d\n        expr: %s\n", i, q)
	}
	f := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s\n%s", err, out, b.String())
	}
}
