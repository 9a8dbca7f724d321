package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/swarmscope/swarmscope/nat/stunserver"
)

// nat times complete `swarmscope nat` runs against an in-process RFC 5780
// server on 127.0.0.1/127.0.0.2 (both loopback): every test answers, so
// this is our own cost, process start included.
func (b *bench) nat(ctx context.Context) error {
	conns, err := stunserver.ListenUDP("127.0.0.1", "127.0.0.2")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() { stunserver.New(conns).Serve(ctx); close(served) }()
	defer func() { cancel(); <-served }()
	server := conns[0][0].LocalAddr().(*net.UDPAddr).String()

	var walls []float64
	var natType string
	for i := range b.opts.natRuns {
		cmd := exec.CommandContext(ctx, b.opts.swarmscope, "nat", "--json", "--no-upnp", "--bind", "127.0.0.1", "--stun", server, "--timeout", "20s")
		start := time.Now()
		out, err := cmd.Output()
		d := time.Since(start)
		if err != nil {
			return fmt.Errorf("swarmscope nat run %d: %v: %s", i+1, err, oneLine(string(out)))
		}
		var rep struct {
			NATType string `json:"nat_type"`
			Servers []struct {
				RFC5780 bool `json:"rfc5780"`
			} `json:"servers"`
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			return fmt.Errorf("swarmscope nat run %d printed no JSON report: %v", i+1, err)
		}
		if len(rep.Servers) == 0 || !rep.Servers[0].RFC5780 {
			return fmt.Errorf("swarmscope nat run %d did not see the server's RFC 5780 support: %s", i+1, oneLine(string(out)))
		}
		natType = rep.NATType
		walls = append(walls, d.Seconds())
		b.logf("  nat run %d: %.3f s (%s)", i+1, d.Seconds(), natType)
	}
	med := median(walls)
	fmt.Fprintf(&b.report, "\n## NAT report\n\n`swarmscope nat --json --no-upnp` against the in-process RFC 5780 STUN server on 127.0.0.1/127.0.0.2: median %.3f s over %d runs (min %.3f, max %.3f), verdict %q. Target about 1 s: %s.\n",
		med, len(walls), minOf(walls), maxOf(walls), natType, verdict(med <= 1.5))
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func minOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

func maxOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+(\d+)\s+([\d.]+) ns/op(.*)$`)

// view runs the TUI's View benchmark and reports ms per frame.
func (b *bench) view(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^(BenchmarkView|BenchmarkSnapshot)$", "-benchtime", b.opts.benchtime, "./ui/tui/")
	cmd.Dir = b.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go test -bench View ./ui/tui/: %v: %s", err, oneLine(string(out)))
	}
	fmt.Fprintf(&b.report, "\n## TUI frame cost (go test -bench 'View|Snapshot' -benchtime %s ./ui/tui/, 160x48)\n\n| benchmark | ms/op | allocs etc. |\n|---|---|---|\n", b.opts.benchtime)
	var at1000 float64 = -1
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	n := 0
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		ns, _ := strconv.ParseFloat(m[4], 64)
		fmt.Fprintf(&b.report, "| %s | %.3f | %s |\n", m[1], ns/1e6, strings.TrimSpace(m[5]))
		if m[1] == "BenchmarkView/peers=1000" {
			at1000 = ns / 1e6
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no benchmark results in: %s", oneLine(string(out)))
	}
	if at1000 >= 0 {
		fmt.Fprintf(&b.report, "\nTarget View() < 2 ms at 1,000 peers: %s (%.3f ms).\n", verdict(at1000 < 2), at1000)
	}
	return nil
}
