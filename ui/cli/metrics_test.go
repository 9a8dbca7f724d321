package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/engine/maketorrent"
	"github.com/swarmscope/swarmscope/engine/swarm"
	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/nat/upnp/upnptest"
)

func TestMetricsFlagErrors(t *testing.T) {
	tmp := t.TempDir()
	mt, err := maketorrent.Make(filepath.Join(tmp, "seed"), filepath.Join(tmp, "m.torrent"), maketorrent.Spec{Name: "m.bin", FileSizes: []int64{1000}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"--headless", "--no-upnp", "--no-dht", "--stun", "", "--port", "0", "--bind", "127.0.0.1", "--dir", filepath.Join(tmp, "dl")}
	for _, bad := range []string{"nohost", "127.0.0.1:http-alt-x", "127.0.0.1:99999", ":"} {
		r := runBinary(t, time.Minute, append(base, "--metrics", bad, mt.TorrentPath)...)
		if r.code != ExitUsage {
			t.Errorf("--metrics %q: exit %d, want %d (stderr %q)", bad, r.code, ExitUsage, r.stderr)
		}
		oneStderrLine(t, r, "--metrics")
	}
	r := runBinary(t, time.Minute, "demo", "--matrix", "--metrics", "127.0.0.1:0")
	if r.code != ExitUsage {
		t.Errorf("demo --matrix --metrics: exit %d, want %d", r.code, ExitUsage)
	}
	// A busy address: one line, exit 1, before anything else starts.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r = runBinary(t, time.Minute, append(base, "--metrics", l.Addr().String(), mt.TorrentPath)...)
	if r.code != ExitFailure {
		t.Errorf("busy --metrics: exit %d, want %d (stderr %q)", r.code, ExitFailure, r.stderr)
	}
	oneStderrLine(t, r, "--metrics", "in use")
}

// labOrPrometheus skips unless the lab is on or prometheus is installed;
// in the lab a missing prometheus is a failure.
func labOrPrometheus(t *testing.T) (prometheus, promtool string) {
	t.Helper()
	lab := os.Getenv("SWARMSCOPE_LAB") == "1"
	p, perr := exec.LookPath("prometheus")
	pt, terr := exec.LookPath("promtool")
	switch {
	case perr == nil && terr == nil:
		return p, pt
	case lab:
		t.Fatalf("SWARMSCOPE_LAB=1 but the Debian package prometheus is not installed (prometheus: %v, promtool: %v); see .ci/lab-packages.txt", perr, terr)
	}
	t.Skip("prometheus not installed (Debian package prometheus); SWARMSCOPE_LAB=1 makes this a failure")
	return
}

// TestPrometheusScrapesHeadlessDownload runs Debian's Prometheus on
// loopback against a real headless swarmscope that downloads from a
// loopback seeder, and asks Prometheus's HTTP API what it scraped.
func TestPrometheusScrapesHeadlessDownload(t *testing.T) {
	promBin, promtool := labOrPrometheus(t)
	tmp := t.TempDir()
	seedDir, dl := filepath.Join(tmp, "seed"), filepath.Join(tmp, "dl")
	mt, err := maketorrent.Make(seedDir, filepath.Join(tmp, "scrape.torrent"), maketorrent.Spec{
		Name: "scrape", FileSizes: []int64{5 << 20, 3<<20 + 12345}, PieceLength: 64 << 10, Seed: 15,
	})
	if err != nil {
		t.Fatal(err)
	}
	// A STUN server and a UPnP gateway on loopback, so that the NAT and
	// port-mapping series have something measured to show.
	igd := upnptest.New("WANIPConnection:1")
	defer igd.Close()
	args := append(loopbackSeeder(t, seedDir, mt, dl), "--seed", "--metrics", "127.0.0.1:0",
		"--stun", natServer(t), "--no-upnp=false", "--upnp-url", igd.URL(), mt.TorrentPath)
	cmd := exec.Command(binary, args...)
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	defer func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}()
	addrCh := make(chan string, 1)
	var errLines strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "swarmscope: metrics at http://"); ok {
				addrCh <- strings.TrimSuffix(a, "/metrics")
				continue
			}
			errLines.WriteString(line + "\n")
		}
		exited <- cmd.Wait()
	}()
	var target string
	select {
	case target = <-addrCh:
	case <-time.After(time.Minute):
		t.Fatal("swarmscope did not say where its metrics are")
	}
	if h, _, _ := net.SplitHostPort(target); h != "127.0.0.1" {
		t.Fatalf("metrics on %q, not on loopback", target)
	}

	// Prometheus on loopback, its own storage, scraping every second.
	api := startPrometheus(t, promBin, target)

	// Wait until Prometheus has scraped the completed download.
	want := float64(mt.Size)
	q := `swarmscope_path_bytes_total{job="swarmscope",origin="outbound",direction="down"}`
	deadline := time.Now().Add(3 * time.Minute)
	var got float64
	for {
		v, ok := promQuery(t, api, q)
		if ok {
			got = v
			if got == want {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 3 min, want the torrent size %v (last seen ok=%v)\nswarmscope stderr:\n%s", q, got, want, ok, errLines.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("Prometheus scraped %s = %.0f (torrent size %d)", q, got, mt.Size)
	for query, want := range map[string]float64{
		`swarmscope_torrent_progress_ratio{job="swarmscope"}`:                                    1,
		`swarmscope_torrent_size_bytes{job="swarmscope"}`:                                        float64(mt.Size),
		`swarmscope_torrent_state{job="swarmscope",state="seeding"}`:                             1,
		`sum(swarmscope_path_bytes_total{job="swarmscope",direction="down",origin!="outbound"})`: 0,
		`up{job="swarmscope"}`: 1,
		`swarmscope_nat_checks_total{job="swarmscope",result="measured"}`:                         1,
		`swarmscope_port_mapping_active{job="swarmscope",protocol="upnp",transport="tcp"}`:        1,
		`swarmscope_port_mapping_active{job="swarmscope",protocol="upnp",transport="udp"}`:        1,
		`swarmscope_port_mapping_lease_seconds{job="swarmscope",protocol="upnp",transport="tcp"}`: 3600,
		`swarmscope_port_mapping_failures_total{job="swarmscope",protocol="upnp"}`:                0,
		`swarmscope_engine_port_mapping_active{job="swarmscope"}`:                                 1,
		// The README's share-of-a-path query.
		`swarmscope_path_bytes_total{job="swarmscope",origin="outbound",direction="down"} / ignoring(origin) sum without(origin) (swarmscope_path_bytes_total{job="swarmscope",direction="down"})`: 1,
		`count(swarmscope_path_bytes_total{job="swarmscope",direction="down"})`:                            float64(swarm.NumOrigins),
		`swarmscope_torrent_bytes_total{job="swarmscope",direction="down",infohash="` + mt.InfoHash + `"}`: float64(mt.Size),
	} {
		// Scrapes after completion keep these values; poll in case
		// Prometheus is a scrape behind, or the NAT check still runs.
		var v float64
		var ok bool
		for i := 0; i < 120; i++ {
			if v, ok = promQuery(t, api, query); ok && v == want {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", query, v, ok, want)
		}
	}

	// promtool lints what swarmscope serves.
	resp, err := http.Get("http://" + target + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	t.Logf("NAT and port-mapping series served:\n%s\n%s", grepLines(string(body), "swarmscope_nat_"), grepLines(string(body), "swarmscope_port_mapping_"))
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(string(body))
	if out, err := check.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	for _, name := range []string{"swarmscope_peers{", "swarmscope_holepunch_connect_duration_seconds_bucket", "swarmscope_build_info"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics has no %s", name)
		}
	}

	// A seeding run stopped by a signal exits 0.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("swarmscope after SIGTERM: %v\n%s", err, errLines.String())
		}
	case <-time.After(time.Minute):
		t.Error("swarmscope did not exit within a minute of SIGTERM")
	}
}

// startPrometheus runs prometheus on a free loopback port, scraping
// target every second, and returns its API base URL.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: swarmscope
    static_configs:
      - targets: [%q]
`, target)), 0o644)
	for attempt := 0; ; attempt++ {
		port := freeLoopbackPort(t)
		listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		log, err := os.Create(filepath.Join(dir, fmt.Sprintf("prometheus-%d.log", attempt)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		p := exec.CommandContext(ctx, bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, fmt.Sprintf("data-%d", attempt)),
			"--web.listen-address="+listen, "--log.level=warn")
		p.Stdout, p.Stderr = log, log
		if err := p.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		t.Cleanup(func() {
			p.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				cancel()
				<-done
			}
			log.Close()
		})
		api := "http://" + listen
		ready := time.Now().Add(time.Minute)
		for time.Now().Before(ready) {
			select {
			case <-done:
				ready = time.Time{} // exited: the port was taken meanwhile, try another
				continue
			default:
			}
			if resp, err := http.Get(api + "/-/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return api
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		out, _ := os.ReadFile(log.Name())
		if attempt == 2 {
			t.Fatalf("prometheus did not become ready:\n%s", out)
		}
		t.Logf("prometheus attempt %d failed:\n%s", attempt, out)
	}
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// promQuery runs an instant query and returns its single value; ok is
// false when the result is empty.
func promQuery(t *testing.T, api, query string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(api + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		t.Logf("query %s: %v", query, err)
		return 0, false
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("query %s: %v", query, err)
	}
	if r.Status != "success" {
		t.Fatalf("query %s: %s", query, r.Error)
	}
	if len(r.Data.Result) == 0 {
		return 0, false
	}
	if len(r.Data.Result) > 1 {
		t.Fatalf("query %s: %d series, want 1", query, len(r.Data.Result))
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("query %s: value %v", query, r.Data.Result[0].Value)
	}
	return v, true
}

// TestMetricsRecheckNAT: with --metrics the NAT is measured again and
// again, so a changed public address is counted, and each diagnosis is
// handed to the view.
func TestMetricsRecheckNAT(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := openMetrics(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.natEvery = 10 * time.Millisecond
	var n atomic.Int32
	check := m.natCheck(func(context.Context) (nat.Report, error) {
		i := n.Add(1)
		pub := fmt.Sprintf("203.0.113.%d:4000", min(i, 2)) // changes once
		return nat.Report{Time: time.Now(), PublicAddr: pub, Servers: []nat.ServerResult{{MappedAddr: pub}}}, nil
	})
	reports := m.recheckNAT(ctx, check)
	for got := 0; got < 3; {
		select {
		case <-reports:
			got++
		case <-time.After(time.Minute):
			t.Fatal("no re-measurement within a minute")
		}
	}
	resp, err := http.Get("http://" + m.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "swarmscope_nat_public_address_changes_total 1\n") {
		t.Errorf("want one public address change in:\n%s", grepLines(string(body), "swarmscope_nat_"))
	}
	// Off: nothing runs, nothing is sent.
	off, _ := openMetrics(ctx, "")
	if off.recheckNAT(ctx, check) != nil {
		t.Error("recheck without --metrics")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
