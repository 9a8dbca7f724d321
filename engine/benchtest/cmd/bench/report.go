package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

func mibps(size int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(size) / (1 << 20) / d.Seconds()
}

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summary is one contender's medians over its successful rounds.
type summary struct {
	label          string
	ok, runs       int
	wall, thr, cpu float64 // s, MiB/s, s
	exit, exitThr  float64 // s, MiB/s to the client's exit; 0 if we stop it
	p10, transfer  float64 // s to 10 % of the bytes, MiB/s from 10 % to 90 %; 0 if not watched
	rss            float64 // MiB
}

func summarize(label string, rs []result, size int64) summary {
	s := summary{label: label, runs: len(rs)}
	var wall, thr, cpu, rss, exit, exitThr, p10, transfer []float64
	for _, r := range rs {
		if r.err != nil {
			continue
		}
		if r.exit > 0 {
			exit = append(exit, r.exit.Seconds())
			exitThr = append(exitThr, mibps(size, r.exit))
		}
		if t := r.transferRate(size); t > 0 {
			p10 = append(p10, r.p10.Seconds())
			transfer = append(transfer, t)
		}
		s.ok++
		wall = append(wall, r.wall.Seconds())
		thr = append(thr, mibps(size, r.wall))
		cpu = append(cpu, r.use.CPU())
		rss = append(rss, float64(r.use.MaxRSSKB)/1024)
	}
	s.wall, s.thr, s.cpu, s.rss = median(wall), median(thr), median(cpu), median(rss)
	s.exit, s.exitThr = median(exit), median(exitThr)
	s.p10, s.transfer = median(p10), median(transfer)
	return s
}

func (b *bench) downloadReport(c *content, cs []*contender, results []result, refs []time.Duration, skipped, loads []string) {
	w := &b.report
	fmt.Fprintf(w, "\n## Download: %s in %d files (%s pieces), %d %s seeders on loopback via opentracker, %d round(s)\n\n",
		human(c.size), len(c.files), human(b.opts.pieceLen), b.opts.seeders, b.opts.seederKind, b.opts.rounds)
	fmt.Fprintf(w, "Load average (1, 5, 15 min) at the start of each round and at the end: %s. Contenders listen on port %d, one after the other.%s\n\n", strings.Join(loads, "; "), b.opts.leecherPort, dhtNote(b.opts.dht))
	byName := map[string][]result{}
	for _, r := range results {
		byName[r.name] = append(byName[r.name], r)
	}
	sums := map[string]summary{}
	for _, ct := range cs {
		sums[ct.name] = summarize(ct.label, byName[ct.name], c.size)
	}
	base, haveBase := sums["headless"]
	haveBase = haveBase && base.ok > 0
	fmt.Fprintf(w, "| client | ok | data s | exit s | MiB/s | to 10 %% s | 10→90 %% MiB/s | CPU s (user+sys) | peak RSS MiB | throughput vs headless | CPU vs headless |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, ct := range cs {
		s := sums[ct.name]
		thrRatio, cpuRatio := "-", "-"
		if haveBase && s.ok > 0 {
			thrRatio = fmt.Sprintf("%.2fx", s.thr/base.thr)
			cpuRatio = fmt.Sprintf("%.2fx", s.cpu/base.cpu)
		}
		exit := "-"
		if s.exit > 0 {
			exit = fmt.Sprintf("%.2f", s.exit)
		}
		p10, transfer := "-", "-"
		if s.transfer > 0 {
			p10, transfer = fmt.Sprintf("%.2f", s.p10), fmt.Sprintf("%.1f", s.transfer)
		}
		fmt.Fprintf(w, "| %s | %d/%d | %.2f | %s | %.1f | %s | %s | %.2f | %.0f | %s | %s |\n", s.label, s.ok, s.runs, s.wall, exit, s.thr, p10, transfer, s.cpu, s.rss, thrRatio, cpuRatio)
	}
	var rs []float64
	for _, d := range refs {
		rs = append(rs, d.Seconds())
	}
	ref := median(rs)
	if ref > 0 {
		fmt.Fprintf(w, "| physical reference: cat from page cache | %d/%d | %.2f | %.2f | %.1f | - | - | - | - | %s | - |\n", len(refs), len(refs), ref, ref, float64(c.size)/(1<<20)/ref,
			ratio(haveBase, float64(c.size)/(1<<20)/ref, base.thr))
	}
	fmt.Fprintf(w, "\nMedians over rounds. data s: start to the complete, correct data on disk (a watcher compares each 4 MiB block once it has no holes; it runs alongside every client); exit s: start to the client's own exit (the TUI is quit with q once the data is complete); MiB/s from data s; to 10 %% s and 10→90 %% MiB/s: when 10 %% of the bytes were on disk and correct, and the rate from 10 %% to 90 %% (the transfer itself, without start-up and end game; as fine as the watcher's 50 ms polls of 4 MiB blocks). CPU and peak RSS are the client process's own (wait4 rusage; peak RSS counts file pages the client maps). Every run's data is compared byte for byte with the source afterwards.\n")
	for _, s := range skipped {
		fmt.Fprintf(w, "Skipped %s\n", s)
	}
	fmt.Fprintf(w, "\nPer round (order alternates):\n\n```\n")
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(w, "round %d  %-12s FAILED: %s\n", r.round+1, r.name, oneLine(r.err.Error()))
			continue
		}
		fmt.Fprintf(w, "round %d  %-12s data %7.2f s  exit %7.2f s %8.1f MiB/s  10→90 %% %7.1f MiB/s  cpu %6.2f s  rss %5.0f MiB\n", r.round+1, r.name, r.wall.Seconds(), r.exit.Seconds(), mibps(c.size, r.wall), r.transferRate(c.size), r.use.CPU(), float64(r.use.MaxRSSKB)/1024)
	}
	fmt.Fprintf(w, "```\n")

	if !haveBase {
		return
	}
	fmt.Fprintf(w, "\nTargets:\n\n")
	target := func(name, what string, ok bool, detail string) {
		verdict := "met"
		if !ok {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "- %s: %s (%s)\n", what, verdict, detail)
	}
	exitRatio := func(s summary) string {
		if s.exitThr == 0 || base.exitThr == 0 {
			return ""
		}
		return fmt.Sprintf("; to exit %.2fx", base.exitThr/s.exitThr)
	}
	transferRatio := func(s summary) string {
		if s.transfer == 0 || base.transfer == 0 {
			return ""
		}
		return fmt.Sprintf("; 10→90 %% %.2fx", base.transfer/s.transfer)
	}
	for _, n := range []string{"anacrolix", "aria2c", "transmission"} {
		if s, ok := sums[n]; ok && s.ok > 0 {
			r := base.thr / s.thr
			target(n, "headless throughput >= 1.0x "+n, r >= 1.0, fmt.Sprintf("%.2fx%s%s", r, exitRatio(s), transferRatio(s)))
		}
	}
	if s, ok := sums["aria2c"]; ok && s.ok > 0 && s.cpu > 0 {
		r := base.cpu / s.cpu
		target("aria2c", "headless CPU <= 1.5x aria2c", r <= 1.5, fmt.Sprintf("%.2fx: %.2f s vs %.2f s", r, base.cpu, s.cpu))
	}
	target("headless", "headless peak RSS <= 100 MiB", base.rss <= 100, fmt.Sprintf("%.0f MiB", base.rss))
	if s, ok := sums["tui"]; ok && s.ok > 0 {
		r := s.cpu / base.cpu
		target("tui", "TUI CPU <= 1.10x headless CPU", r <= 1.10, fmt.Sprintf("%.2fx: %.2f s vs %.2f s", r, s.cpu, base.cpu))
	}
}

func ratio(ok bool, x, base float64) string {
	if !ok || base == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", x/base)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func dhtNote(on bool) string {
	if !on {
		return ""
	}
	return " DHT on (-dht) for swarmscope and anacrolix, with no DHT node reachable."
}
