package benchtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fleetEnv makes the test binary a fleet process (see TestMain): the
// peers must not share the engine's heap.
const fleetEnv = "SWARMSCOPE_BENCHTEST_FLEET"

func TestMain(m *testing.M) {
	if v := os.Getenv(fleetEnv); v != "" {
		os.Exit(fleetMain(strings.Split(v, " ")))
	}
	os.Exit(m.Run())
}

func fleetMain(args []string) int {
	if len(args) != 4 {
		fmt.Fprintf(os.Stderr, "%s: want TARGET INFOHASH PIECES N\n", fleetEnv)
		return 2
	}
	pieces, _ := strconv.Atoi(args[2])
	n, _ := strconv.Atoi(args[3])
	if err := RunFleetProcess(context.Background(), args[0], args[1], pieces, n, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func selfSpawn(t testing.TB) SpawnFunc {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return SpawnProcess(func(target, ih string, pieces, n int) *exec.Cmd {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d %d", fleetEnv, target, ih, pieces, n))
		return cmd
	})
}

// TestEngineManyPeers checks that one engine takes in a crowd of peers and
// counts every one of them; the memory figure is logged, not asserted.
func TestEngineManyPeers(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 50
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := MeasureEngine(ctx, MemOptions{Dir: t.TempDir(), Peers: n, Spawn: selfSpawn(t), Settle: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Connected != n {
		t.Fatalf("engine counts %d peers, %d connected", r.Connected, n)
	}
	if r.Heap <= r.BaseHeap {
		t.Fatalf("heap did not grow with %d peers: %s", n, r)
	}
	t.Log(r)
}

// BenchmarkEngine1000Peers reports one engine's heap with 1,000 connected
// peers (the fleet runs in another process).
func BenchmarkEngine1000Peers(b *testing.B) {
	for b.Loop() {
		r, err := MeasureEngine(context.Background(), MemOptions{Dir: b.TempDir(), Peers: 1000, Spawn: selfSpawn(b)})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(r.Heap)/(1<<20), "heap-MiB")
		b.ReportMetric(r.PerPeer()/1024, "heap-KiB/peer")
		b.ReportMetric(float64(r.RSS)/(1<<20), "rss-MiB")
	}
}

// TestBenchSmoke runs the side-by-side benchmark (engine/benchtest/cmd/bench) in its
// tiny version, so the harness cannot rot: every contender must download
// and verify the data. It needs the contenders' programs (tmux, opentracker,
// aria2c, transmission-cli) and root for the private network namespace;
// without them it is skipped, unless SWARMSCOPE_LAB=1 (CI), where that is a
// failure. SWARMSCOPE_BENCH_SMOKE=1 runs it even in -short mode.
func TestBenchSmoke(t *testing.T) {
	lab := os.Getenv("SWARMSCOPE_LAB") == "1"
	forced := os.Getenv("SWARMSCOPE_BENCH_SMOKE") == "1"
	if testing.Short() && !forced {
		t.Skip("-short: the benchmark smoke run takes minutes (SWARMSCOPE_BENCH_SMOKE=1 runs it)")
	}
	var missing []string
	if runtime.GOOS != "linux" {
		missing = append(missing, "Linux")
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root (for the network namespace transmission-cli needs)")
	}
	for _, tool := range []string{"go", "tmux", "opentracker", "aria2c", "transmission-cli", "ip", "cat"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		msg := "benchmark smoke run needs " + strings.Join(missing, ", ") + " (Debian: see .ci/lab-packages.txt)"
		if lab || forced {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./engine/benchtest/cmd/bench", "-smoke", "-work", t.TempDir())
	cmd.Dir = root
	// Interrupted, the benchmark still stops its seeders and tracker.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("benchmark report:\n%s", out)
	if err != nil {
		t.Fatalf("go run ./engine/benchtest/cmd/bench -smoke: %v\n%s", err, stderr.String())
	}
	report := string(out)
	if strings.Contains(report, "FAILED") {
		t.Errorf("the report names a failure")
	}
	for _, want := range []string{"| swarmscope headless | 1/1 |", "| swarmscope TUI (tmux 160x48) | 1/1 |", "| aria2c ", "| transmission-cli ",
		"| physical reference", "## NAT report", "BenchmarkView/peers=1000", "## Engine memory with 50 peers"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestDialFleetRefusesStrangers: a listener that answers the handshake with
// garbage, or hangs up, is an error for the fleet, never a hang or panic.
func TestDialFleetRefusesStrangers(t *testing.T) {
	for name, reply := range map[string][]byte{
		"garbage":    []byte(strings.Repeat("x", handshakeLen)),
		"short":      []byte{19, 'B', 'i'},
		"wrong hash": append(append([]byte{19}, pstr+"\x00\x00\x00\x00\x00\x10\x00\x04"...), make([]byte, 40)...),
	} {
		t.Run(name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						io.ReadFull(c, make([]byte, handshakeLen))
						c.Write(reply)
					}()
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			f, err := DialFleet(ctx, l.Addr().String(), strings.Repeat("ab", 20), 8, 3)
			if err == nil {
				f.Close()
				t.Fatal("fleet connected to a listener that does not speak BitTorrent")
			}
			t.Log(err)
		})
	}
	if _, err := DialFleet(context.Background(), "127.0.0.1:1", "zz", 8, 1); err == nil {
		t.Fatal("accepted a bad info hash")
	}
}
