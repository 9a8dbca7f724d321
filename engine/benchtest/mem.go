package benchtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/swarmscope/swarmscope/engine"
	"github.com/swarmscope/swarmscope/engine/maketorrent"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// SpawnFunc starts a fleet of n peers against target, in another process
// so that the fleet's memory is not counted as the engine's, and returns
// once they are connected. stop disconnects them.
type SpawnFunc func(ctx context.Context, target, infoHash string, numPieces, n int) (stop func(), err error)

// MemOptions configures MeasureEngine.
type MemOptions struct {
	Dir   string // scratch directory
	Peers int
	// Spawn runs the fleet; nil runs it in this process, whose heap then
	// counts it too (fine for a functional test, not for a number).
	Spawn SpawnFunc
	// Settle is how long the engine runs with every peer before the
	// measurement: snapshots and choking rounds happen. Default 3 s.
	Settle time.Duration
	// Pieces of the torrent (64 KiB each); default 1024.
	Pieces int
	// HeapProfile, when set, receives a pprof heap profile taken with
	// every peer connected: it tells the engine's share from anacrolix's.
	HeapProfile string
}

// MemResult is what one engine cost with Peers connected.
type MemResult struct {
	Peers          int     // asked for
	Connected      int     // peers the engine's snapshot counted
	BaseHeap       uint64  // HeapInuse after GC with the torrent added, before peers
	Heap           uint64  // HeapInuse after GC with every peer connected
	BaseGoroutines int     //
	Goroutines     int     //
	CPUPerSecond   float64 // this process's CPU seconds per second while settled
	RSS            uint64  // VmRSS of this process, bytes (includes the runtime's slack)
}

// PerPeer is the heap each connected peer costs.
func (r MemResult) PerPeer() float64 {
	if r.Connected == 0 {
		return 0
	}
	return (float64(r.Heap) - float64(r.BaseHeap)) / float64(r.Connected)
}

func (r MemResult) String() string {
	return fmt.Sprintf("%d/%d peers connected: heap in use %.1f MiB (%.1f MiB before the peers, %.1f KiB per peer), goroutines %d (%d before), RSS %.1f MiB, CPU %.3f s/s while idle with them",
		r.Connected, r.Peers, mib(r.Heap), mib(r.BaseHeap), r.PerPeer()/1024, r.Goroutines, r.BaseGoroutines, mib(r.RSS), r.CPUPerSecond)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// MeasureEngine starts one engine on 127.0.0.1 downloading a torrent, lets
// opts.Peers fleet peers connect to it and reports its heap.
func MeasureEngine(ctx context.Context, opts MemOptions) (MemResult, error) {
	res := MemResult{Peers: opts.Peers}
	if opts.Settle <= 0 {
		opts.Settle = 3 * time.Second
	}
	if opts.Pieces <= 0 {
		opts.Pieces = 1024
	}
	const pieceLen = 64 << 10
	mt, err := maketorrent.Make(filepath.Join(opts.Dir, "content"), filepath.Join(opts.Dir, "mem.torrent"), maketorrent.Spec{
		Name: "mem", FileSizes: []int64{int64(opts.Pieces) * pieceLen}, PieceLength: pieceLen, Seed: 1,
	})
	if err != nil {
		return res, err
	}
	e, err := engine.New(ctx, engine.Config{
		DataDir: filepath.Join(opts.Dir, "dl"), ListenHost: "127.0.0.1", ListenPort: 0,
		MaxConns: opts.Peers + 100, NoDHT: true, NoTrackers: true, NoPEX: true,
	})
	if err != nil {
		return res, err
	}
	defer e.Close()
	ih, err := e.AddSource(ctx, mt.TorrentPath)
	if err != nil {
		return res, err
	}
	// Wait for the torrent to be live (metadata validated, state known).
	if _, err := waitSnapshot(ctx, e, 30*time.Second, func(s swarm.Snapshot) bool {
		return len(s.Torrents) == 1 && s.Torrents[0].State == swarm.StateDownloading
	}); err != nil {
		return res, fmt.Errorf("torrent never started downloading: %w", err)
	}
	res.BaseHeap, res.BaseGoroutines = heapInUse()
	target := "127.0.0.1:" + strconv.Itoa(e.ListenPort())
	var stop func()
	if opts.Spawn != nil {
		stop, err = opts.Spawn(ctx, target, ih, opts.Pieces, opts.Peers)
	} else {
		var f *Fleet
		f, err = DialFleet(ctx, target, ih, opts.Pieces, opts.Peers)
		if f != nil {
			stop = f.Close
		}
	}
	if err != nil {
		return res, fmt.Errorf("connecting %d peers: %w", opts.Peers, err)
	}
	defer stop()
	s, err := waitSnapshot(ctx, e, 60*time.Second, func(s swarm.Snapshot) bool {
		return len(s.Torrents) == 1 && s.Torrents[0].Peers.Total() >= opts.Peers
	})
	if len(s.Torrents) == 1 {
		res.Connected = s.Torrents[0].Peers.Total()
	}
	if err != nil {
		return res, fmt.Errorf("the engine counted %d of %d peers: %w", res.Connected, opts.Peers, err)
	}
	cpu0, t0 := cpuSeconds(), time.Now()
	select {
	case <-time.After(opts.Settle):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	res.CPUPerSecond = (cpuSeconds() - cpu0) / time.Since(t0).Seconds()
	res.Heap, res.Goroutines = heapInUse()
	if l := e.Latest(); len(l.Torrents) == 1 {
		res.Connected = l.Torrents[0].Peers.Total()
	}
	res.RSS = rss()
	if opts.HeapProfile != "" {
		f, err := os.Create(opts.HeapProfile)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.WriteHeapProfile(f); err != nil {
			return res, fmt.Errorf("heap profile: %w", err)
		}
	}
	return res, nil
}

func waitSnapshot(ctx context.Context, e *engine.Engine, limit time.Duration, ok func(swarm.Snapshot) bool) (swarm.Snapshot, error) {
	deadline := time.After(limit)
	for {
		s := e.Latest()
		if ok(s) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-deadline:
			return s, fmt.Errorf("not after %s", limit)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func heapInUse() (uint64, int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, runtime.NumGoroutine()
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// RunFleetProcess is the body of a fleet child process: it connects the
// peers, prints "connected N" on out, and holds them until in closes (the
// parent went away or wants them gone).
func RunFleetProcess(ctx context.Context, target, infoHash string, numPieces, n int, in interface{ Read([]byte) (int, error) }, out interface{ Write([]byte) (int, error) }) error {
	f, err := DialFleet(ctx, target, infoHash, numPieces, n)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := fmt.Fprintf(out, "connected %d\n", n); err != nil {
		return err
	}
	buf := make([]byte, 64)
	for {
		if _, err := in.Read(buf); err != nil {
			return nil
		}
	}
}

// SpawnProcess returns a SpawnFunc that runs the fleet in the process
// command makes; that process must call RunFleetProcess with its stdin and
// stdout.
func SpawnProcess(command func(target, infoHash string, numPieces, n int) *exec.Cmd) SpawnFunc {
	return func(ctx context.Context, target, infoHash string, numPieces, n int) (func(), error) {
		cmd := command(target, infoHash, numPieces, n)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting the fleet: %w", err)
		}
		stop := func() {
			stdin.Close()
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "connected ") {
			stop()
			return nil, fmt.Errorf("%w: %s", errNoFleet, strings.TrimSpace(stderr.String()))
		}
		return stop, nil
	}
}

var errNoFleet = errors.New("fleet process ended before its peers connected")
