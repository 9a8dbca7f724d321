package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/swarmscope/swarmscope/engine/benchtest"
)

// mem measures one engine's heap with -mem-peers peers connected; the peers
// run in a child process (`bench mempeers`) so only the engine is counted.
func (b *bench) mem(ctx context.Context) error {
	dir := filepath.Join(b.work, "mem")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	spawn := benchtest.SpawnProcess(func(target, ih string, pieces, n int) *exec.Cmd {
		return exec.CommandContext(ctx, b.self, "mempeers", target, ih, strconv.Itoa(pieces), strconv.Itoa(n))
	})
	b.logf("memory: connecting %d peers to one engine", b.opts.memPeers)
	prof := filepath.Join(b.work, "mem-heap.pprof")
	r, err := benchtest.MeasureEngine(ctx, benchtest.MemOptions{Dir: dir, Peers: b.opts.memPeers, Spawn: spawn, HeapProfile: prof})
	if err != nil {
		return err
	}
	b.logf("  %s", r)
	fmt.Fprintf(&b.report, "\n## Engine memory with %d peers\n\nOne engine downloading a 1024-piece torrent on 127.0.0.1; %d handshaking peers (separate process, each from its own 127.1.x.y address, claiming every piece, never unchoking) connected: %s.\n",
		b.opts.memPeers, b.opts.memPeers, r)
	top, err := pprofTop(ctx, b.self, prof)
	if err != nil {
		b.logf("  heap profile: %v", err)
		return nil
	}
	fmt.Fprintf(&b.report, "\nWhere the heap goes (go tool pprof -top -sample_index=inuse_space, first lines):\n\n```\n%s```\n", top)
	return nil
}

func pprofTop(ctx context.Context, binary, prof string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-sample_index=inuse_space", binary, prof).Output()
	if err != nil {
		return "", err
	}
	lines := strings.Split(string(out), "\n")
	var keep []string
	for i, l := range lines {
		if strings.Contains(l, "flat%") {
			keep = append(keep, lines[i:min(len(lines), i+16)]...)
			break
		}
	}
	return strings.Join(keep, "\n") + "\n", nil
}

// runMemPeers is the child: `bench mempeers TARGET INFOHASH PIECES N`.
func runMemPeers(args []string) int {
	if len(args) != 4 {
		fmt.Fprintln(os.Stderr, "bench mempeers: usage: bench mempeers TARGET INFOHASH PIECES N")
		return 2
	}
	pieces, err1 := strconv.Atoi(args[2])
	n, err2 := strconv.Atoi(args[3])
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "bench mempeers: PIECES and N must be numbers")
		return 2
	}
	if err := benchtest.RunFleetProcess(context.Background(), args[0], args[1], pieces, n, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "bench mempeers: %v\n", err)
		return 1
	}
	return 0
}
