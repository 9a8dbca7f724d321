package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/swarmscope/swarmscope/engine"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// runInProcess runs the profile contender: the engine in this process
// under the CPU profiler, so `go tool pprof` can tell swarmscope's code
// from anacrolix's. Usage is this process's rusage over the download.
func (b *bench) runInProcess(ctx context.Context, ct *contender, dir string, round int) (time.Duration, usage, error) {
	prof := filepath.Join(b.work, fmt.Sprintf("profile-r%d.pprof", round+1))
	f, err := os.Create(prof)
	if err != nil {
		return 0, usage{}, err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return 0, usage{}, err
	}
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	err = ct.inproc(ctx, dir)
	wall := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	pprof.StopCPUProfile()
	if err != nil {
		return 0, usage{}, err
	}
	u := usage{WallS: wall.Seconds(), UserS: tvSeconds(ru1.Utime) - tvSeconds(ru0.Utime), SysS: tvSeconds(ru1.Stime) - tvSeconds(ru0.Stime), MaxRSSKB: ru1.Maxrss}
	b.profiles = append(b.profiles, prof)
	return wall, u, nil
}

// engineDownload is what `swarmscope --headless` does, minus printing:
// one engine, the torrent, until its snapshot says seeding.
func (b *bench) engineDownload(ctx context.Context, dir string, c *content) error {
	e, err := engine.New(ctx, engine.Config{DataDir: dir, ListenHost: b.ip, ListenPort: b.opts.leecherPort, NoDHT: !b.opts.dht, Log: io.Discard})
	if err != nil {
		return err
	}
	defer e.Close()
	go func() {
		for range e.Events() {
		}
	}()
	if _, err := e.AddSource(ctx, c.torrent); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case s := <-e.Snapshots():
			if len(s.Torrents) == 1 {
				switch s.Torrents[0].State {
				case swarm.StateSeeding:
					return nil
				case swarm.StateError:
					return errors.New(s.Torrents[0].Err)
				}
			}
		}
	}
}

// profileReport adds where the in-process engine spent its CPU: the top
// functions, and the share of samples with swarmscope's own code on the
// stack (the rest is anacrolix, the Go runtime and the kernel).
func (b *bench) profileReport(ctx context.Context) {
	if len(b.profiles) == 0 {
		return
	}
	args := append([]string{"tool", "pprof", "-top", "-nodecount=25", b.self}, b.profiles...)
	top, err := exec.CommandContext(ctx, "go", args...).Output()
	if err != nil {
		b.logf("pprof: %v", err)
		return
	}
	fmt.Fprintf(&b.report, "\nCPU profile of the engine in-process (profile contender, %d run(s)); top functions:\n\n```\n%s```\n", len(b.profiles), trimPprof(string(top)))
	// Our functions by cumulative time (anacrolix calls they make
	// included): everything else is the embedded engine's own work.
	ours, err := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof", "-top", "-cum", "-nodecount=1000", "-nodefraction=0", b.self}, b.profiles...)...).Output()
	if err != nil {
		return
	}
	var lines []string
	for _, l := range strings.Split(string(ours), "\n") {
		if strings.Contains(l, "swarmscope/swarmscope/engine") && len(lines) < 12 {
			lines = append(lines, l)
		}
	}
	fmt.Fprintf(&b.report, "\nswarmscope's engine functions by cumulative CPU (flat, flat%%, sum%%, cum, cum%%):\n\n```\n%s\n```\n", strings.Join(lines, "\n"))
}

// trimPprof drops pprof's file and build lines.
func trimPprof(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}
