package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/swarmscope/swarmscope/engine"
	"github.com/swarmscope/swarmscope/engine/maketorrent"
)

// result is one contender's run.
type result struct {
	name  string
	round int
	wall  time.Duration // start to complete data on disk
	exit  time.Duration // start to the client's exit; 0 if we stop it
	// p10, p90: start to 10 % and to 90 % of the bytes on disk and
	// correct (0: not watched, the profile contender).
	p10, p90 time.Duration
	use      usage
	err      error
}

// transferRate is the rate between 10 % and 90 % of the bytes: the
// transfer itself, without the start-up (aria2c spends seconds before its
// first MiB) or the end game.
func (r result) transferRate(size int64) float64 {
	if r.p10 <= 0 || r.p90 <= r.p10 {
		return 0
	}
	return float64(size) * 0.8 / (1 << 20) / (r.p90 - r.p10).Seconds()
}

// contender knows how to start one client on the benchmark torrent.
type contender struct {
	name  string
	label string
	// argv returns the command line; the client runs in dir and must store
	// the content as dir/NAME.
	argv func(dir string) ([]string, error)
	// exits: the client exits by itself once complete. Otherwise the
	// watcher detects completion and the client is stopped.
	exits bool
	tmux  bool
	// inproc runs the client in this process (the profile contender).
	inproc func(ctx context.Context, dir string) error
}

func (b *bench) download(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(b.work, "logs"), 0o755); err != nil {
		return err
	}
	port, err := b.trackerPort()
	if err != nil {
		return err
	}
	c, err := b.makeContent(fmt.Sprintf("http://%s/announce", net.JoinHostPort(b.ip, strconv.Itoa(port))))
	if err != nil {
		return err
	}
	src, err := engine.ParseSource(c.torrent)
	if err != nil {
		return err
	}
	tracker, err := b.startTracker(ctx, port, src.InfoHash)
	if err != nil {
		return err
	}
	defer tracker.stop()
	var contenders []*contender
	var skipped []string
	if b.opts.skipped != "" {
		skipped = append(skipped, b.opts.skipped)
	}
	for _, name := range b.opts.contenders {
		ct, err := b.contender(ctx, name, c)
		if err != nil {
			if b.opts.strict && name != "anacrolix" {
				return fmt.Errorf("%s: %w", name, err)
			}
			b.logf("skipping %s: %v", name, err)
			skipped = append(skipped, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		contenders = append(contenders, ct)
	}
	b.logf("starting %d %s seeders", b.opts.seeders, b.opts.seederKind)
	seeders, err := b.startSeeders(ctx, c, src.InfoHash, port)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range seeders {
			s.stop()
		}
	}()

	var results []result
	var refs []time.Duration
	var loads []string
	// An interrupt or a dead seeder ends the rounds, but what was measured
	// is still reported.
	var stopErr error
rounds:
	for round := range b.opts.rounds {
		order := roundOrder(contenders, round)
		names := make([]string, len(order))
		for i, ct := range order {
			names[i] = ct.name
		}
		b.logf("round %d/%d: %s (load average %s)", round+1, b.opts.rounds, strings.Join(names, ", "), loadAvg())
		loads = append(loads, fmt.Sprintf("round %d: %s", round+1, loadAvg()))
		ref, err := b.reference(c)
		if err != nil {
			stopErr = fmt.Errorf("reference copy: %w", err)
			break
		}
		refs = append(refs, ref)
		for _, ct := range order {
			if stopErr = ctx.Err(); stopErr != nil {
				break rounds
			}
			for _, s := range seeders {
				if s.exited() {
					stopErr = fmt.Errorf("%s exited (log %s): %v", s.name, s.log, tail(s.log))
					break rounds
				}
			}
			r := b.runContender(ctx, ct, c, round)
			if r.err != nil {
				b.logf("  %-12s FAILED: %v", ct.name, r.err)
			} else {
				b.logf("  %-12s %6.2f s (exit %6.2f s)  %7.1f MiB/s  10→90 %% %7.1f MiB/s  cpu %6.2f s  rss %5.0f MiB", ct.name, r.wall.Seconds(), r.exit.Seconds(),
					mibps(c.size, r.wall), r.transferRate(c.size), r.use.CPU(), float64(r.use.MaxRSSKB)/1024)
			}
			results = append(results, r)
		}
	}
	loads = append(loads, "end: "+loadAvg())
	b.downloadReport(c, contenders, results, refs, skipped, loads)
	b.profileReport(ctx)
	if stopErr != nil {
		return stopErr
	}
	for _, r := range results {
		if r.err != nil {
			return fmt.Errorf("%s failed in round %d: %w", r.name, r.round+1, r.err)
		}
	}
	return nil
}

// roundOrder rotates the contenders each round and reverses every other
// round, so no client always runs first, last or after the same one.
func roundOrder(cs []*contender, round int) []*contender {
	n := len(cs)
	out := make([]*contender, n)
	for i := range cs {
		out[i] = cs[(i+round)%n]
	}
	if round%2 == 1 {
		for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// reference times the physical floor: copying the same bytes from the page
// cache into a fresh directory with cat.
func (b *bench) reference(c *content) (time.Duration, error) {
	dst := filepath.Join(b.work, "dl", "reference")
	if err := os.RemoveAll(dst); err != nil {
		return 0, err
	}
	start := time.Now()
	for _, f := range c.files {
		to := filepath.Join(dst, c.name, f)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return 0, err
		}
		out, err := os.Create(to)
		if err != nil {
			return 0, err
		}
		cmd := exec.Command("cat", filepath.Join(c.dir, c.name, f))
		cmd.Stdout = out
		err = cmd.Run()
		out.Close()
		if err != nil {
			return 0, fmt.Errorf("cat %s: %w", f, err)
		}
	}
	d := time.Since(start)
	if err := maketorrent.SameContent(filepath.Join(c.dir, c.name), filepath.Join(dst, c.name)); err != nil {
		return 0, err
	}
	os.RemoveAll(dst)
	syscall.Sync()
	b.logf("  %-12s %6.2f s  %7.1f MiB/s", "cat", d.Seconds(), mibps(c.size, d))
	return d, nil
}

func (b *bench) runContender(ctx context.Context, ct *contender, c *content, round int) result {
	r := result{name: ct.name, round: round}
	dir := filepath.Join(b.work, "dl", ct.name)
	if err := os.RemoveAll(dir); err != nil {
		r.err = err
		return r
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.err = err
		return r
	}
	defer func() {
		os.RemoveAll(dir)
		// Write-back of this run's data must not slow the next contender.
		syscall.Sync()
	}()
	var argv []string
	if ct.argv != nil {
		var err error
		if argv, err = ct.argv(dir); err != nil {
			r.err = err
			return r
		}
	}
	logPath := filepath.Join(b.work, "logs", fmt.Sprintf("%s-r%d.log", ct.name, round+1))
	ctx, cancel := context.WithTimeout(ctx, b.opts.timeout)
	defer cancel()
	if err := b.waitLeecherPort(ctx); err != nil {
		r.err = err
		return r
	}
	switch {
	case ct.inproc != nil:
		r.wall, r.use, r.err = b.runInProcess(ctx, ct, dir, round)
		r.exit = r.wall
	case ct.tmux:
		r.wall, r.use, r.err = b.runInTmux(ctx, argv, dir, c, logPath, &r)
	default:
		r.wall, r.exit, r.use, r.err = b.runDirect(ctx, ct, argv, dir, c, logPath, &r)
	}
	if r.err != nil {
		r.err = fmt.Errorf("%w (log %s)", r.err, logPath)
		return r
	}
	if err := maketorrent.SameContent(filepath.Join(c.dir, c.name), filepath.Join(dir, c.name)); err != nil {
		r.err = fmt.Errorf("downloaded data differs: %w", err)
	}
	return r
}

// runDirect runs a client as our child; usage comes from wait4. The
// watcher runs alongside every client, so each pays the same for it and
// the time to complete data is known even for clients that exit late.
func (b *bench) runDirect(ctx context.Context, ct *contender, argv []string, dir string, c *content, logPath string, r *result) (data, exit time.Duration, u usage, err error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return 0, 0, usage{}, err
	}
	defer lf.Close()
	w, err := newWatcher(c, filepath.Join(dir, c.name))
	if err != nil {
		return 0, 0, usage{}, err
	}
	defer w.close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, usage{}, err
	}
	defer func() { r.p10, r.p90 = w.phase(start) }()
	exited := make(chan struct{})
	var end time.Time
	go func() { cmd.Wait(); end = time.Now(); close(exited) }()
	kill := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	type watched struct {
		at  time.Time
		err error
	}
	wch := make(chan watched, 1)
	go func() {
		at, err := w.wait(ctx, exited)
		wch <- watched{at, err}
	}()
	if ct.exits {
		select {
		case <-exited:
		case <-ctx.Done():
			kill()
			<-wch
			return 0, 0, usage{}, fmt.Errorf("not done after %s", b.opts.timeout)
		}
		exit = end.Sub(start)
		wd := <-wch
		u = usageOf(cmd.ProcessState, exit)
		if u.ExitCode != 0 {
			return 0, 0, u, fmt.Errorf("exit code %d: %s", u.ExitCode, tail(logPath))
		}
		if wd.err != nil {
			return 0, 0, u, fmt.Errorf("exited without the complete data: %v", wd.err)
		}
		return wd.at.Sub(start), exit, u, nil
	}
	wd := <-wch
	if wd.err != nil {
		kill()
		return 0, 0, usage{}, fmt.Errorf("%w: %s", wd.err, tail(logPath))
	}
	data = wd.at.Sub(start)
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		kill()
	}
	return data, 0, usageOf(cmd.ProcessState, data), nil
}

// runInTmux runs a client on a 160x48 terminal on a private tmux server,
// under `bench wrap` for its usage, and quits it with q once the watcher
// sees the content complete.
func (b *bench) runInTmux(ctx context.Context, argv []string, dir string, c *content, logPath string, r *result) (time.Duration, usage, error) {
	tmuxBin, err := b.lookTool("tmux")
	if err != nil {
		return 0, usage{}, err
	}
	// A private server on a socket of our own, removed afterwards (a
	// killed tmux server leaves its socket file behind).
	sockDir, err := os.MkdirTemp("", "swarmscope-bench-tmux-")
	if err != nil {
		return 0, usage{}, err
	}
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "s")
	usagePath := logPath + ".usage.json"
	os.Remove(usagePath)
	tmux := func(args ...string) *exec.Cmd {
		cmd := exec.Command(tmuxBin, append([]string{"-S", sock, "-f", "/dev/null"}, args...)...)
		cmd.Env = append(os.Environ(), "TERM=xterm-256color")
		return cmd
	}
	defer tmux("kill-server").Run()
	// stderr goes to the log; stdout is the terminal.
	shell := "exec " + shellQuote(append([]string{b.self, "wrap", usagePath, "--"}, argv...)...) + " 2>" + shellQuote(logPath)
	start := time.Now()
	if out, err := tmux("new-session", "-d", "-s", "tui", "-x", "160", "-y", "48", "-c", dir, shell).CombinedOutput(); err != nil {
		return 0, usage{}, fmt.Errorf("tmux: %v: %s", err, out)
	}
	exited := make(chan struct{})
	stopPoll := make(chan struct{})
	defer close(stopPoll)
	go func() {
		for {
			if _, err := os.Stat(usagePath); err == nil {
				close(exited)
				return
			}
			select {
			case <-stopPoll:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	w, err := newWatcher(c, filepath.Join(dir, c.name))
	if err != nil {
		return 0, usage{}, err
	}
	defer w.close()
	done, err := w.wait(ctx, exited)
	r.p10, r.p90 = w.phase(start)
	if err != nil {
		screen, _ := tmux("capture-pane", "-p", "-t", "tui").Output()
		return 0, usage{}, fmt.Errorf("%w; screen:\n%s", err, screen)
	}
	wall := done.Sub(start)
	tmux("send-keys", "-t", "tui", "q").Run()
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		return 0, usage{}, errors.New("the TUI did not quit on q within 20 s")
	}
	u, err := readUsage(usagePath)
	if err != nil {
		return 0, usage{}, err
	}
	if u.ExitCode != 0 {
		return 0, u, fmt.Errorf("exit code %d: %s", u.ExitCode, tail(logPath))
	}
	return wall, u, nil
}

func shellQuote(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// noDHT drops --no-dht from a command line when -dht is given.
func (b *bench) noDHT(argv []string) []string {
	if !b.opts.dht {
		return argv
	}
	return slices.DeleteFunc(argv, func(a string) bool { return a == "--no-dht" })
}

// waitLeecherPort waits until the contenders' fixed port is free again
// (the previous contender has exited; a lingering socket gets a moment).
func (b *bench) waitLeecherPort(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for !portFree(b.ip, b.opts.leecherPort) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("port %d on %s is still in use (-port picks another)", b.opts.leecherPort, b.ip)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}

// loadAvg is the machine's 1, 5 and 15 minute load average: the benchmark
// shares the CPUs with whatever else runs.
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// contender builds the command line of one client. Every client is kept on
// loopback: no DHT, no local peer discovery, no UPnP/NAT-PMP, listening on
// b.ip, peers only from the local tracker.
func (b *bench) contender(ctx context.Context, name string, c *content) (*contender, error) {
	ss := b.opts.swarmscope
	switch name {
	case "headless":
		return &contender{name: name, label: "swarmscope headless", exits: true, argv: func(dir string) ([]string, error) {
			return b.noDHT([]string{ss, "--headless", "--json", "--no-upnp", "--no-dht", "--port", strconv.Itoa(b.opts.leecherPort), "--bind", b.ip, "--dir", dir, c.torrent}), nil
		}}, nil
	case "tui":
		if _, err := b.lookTool("tmux"); err != nil {
			return nil, err
		}
		// --stun "": the NAT pane must not query public servers.
		return &contender{name: name, label: "swarmscope TUI (tmux 160x48)", tmux: true, argv: func(dir string) ([]string, error) {
			return b.noDHT([]string{ss, "--no-upnp", "--no-dht", "--stun", "", "--port", strconv.Itoa(b.opts.leecherPort), "--bind", b.ip, "--dir", dir, c.torrent}), nil
		}}, nil
	case "profile":
		return &contender{name: name, label: "engine in-process, CPU-profiled", inproc: func(ctx context.Context, dir string) error {
			return b.engineDownload(ctx, dir, c)
		}}, nil
	case "anacrolix":
		bin, err := b.anacrolixCLI(ctx)
		if err != nil {
			return nil, err
		}
		// It stores data in its working directory.
		return &contender{name: name, label: "anacrolix torrent " + anacrolixVersion, exits: true, argv: func(dir string) ([]string, error) {
			return b.noDHT([]string{bin, "download", "--addr", net.JoinHostPort(b.ip, strconv.Itoa(b.opts.leecherPort)), "--no-dht", "--no-port-forward", "--no-ipv6",
				"--no-webtorrent", "--no-progress", "--quiet", c.torrent}), nil
		}}, nil
	case "aria2c":
		bin, err := b.lookTool("aria2c")
		if err != nil {
			return nil, err
		}
		return &contender{name: name, label: "aria2c " + toolVersion(bin, "--version"), exits: true, argv: func(dir string) ([]string, error) {
			port := b.opts.leecherPort
			return []string{bin, "--no-conf", "--dir", dir, "--seed-time=0", "--enable-dht=false", "--enable-dht6=false",
				"--bt-enable-lpd=false", "--disable-ipv6=true", "--interface=" + b.ip, "--listen-port=" + strconv.Itoa(port),
				"--file-allocation=falloc", "--summary-interval=0", "--console-log-level=warn", "--download-result=hide",
				"--bt-save-metadata=false", "--auto-file-renaming=false", "--allow-overwrite=true", c.torrent}, nil
		}}, nil
	case "transmission":
		bin, err := b.lookTool("transmission-cli")
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(b.ip, "127.") {
			return nil, errors.New("transmission-cli ignores peers on 127.0.0.0/8 (martian addresses to it); run as root so the download runs in a private network namespace")
		}
		return &contender{name: name, label: "transmission-cli " + toolVersion(bin, "--version"), exits: true, argv: func(dir string) ([]string, error) {
			port := b.opts.leecherPort
			cfg := filepath.Join(dir, ".transmission")
			if err := writeTransmissionSettings(cfg, b.ip, port); err != nil {
				return nil, err
			}
			return []string{bin, "-g", cfg, "-w", dir, "-p", strconv.Itoa(port), "-M", "-D", "-U", c.torrent}, nil
		}}, nil
	}
	return nil, fmt.Errorf("unknown contender %q", name)
}

// writeTransmissionSettings keeps transmission-cli on loopback and makes it
// stop (and so exit) as soon as the torrent is complete: a seed ratio limit
// of 0 stops the torrent, and transmission-cli exits when its torrent stops.
func writeTransmissionSettings(dir, ip string, port int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	s := map[string]any{
		"bind-address-ipv4":         ip,
		"bind-address-ipv6":         "::1",
		"dht-enabled":               false,
		"lpd-enabled":               false,
		"port-forwarding-enabled":   false,
		"peer-port":                 port,
		"peer-port-random-on-start": false,
		"ratio-limit-enabled":       true,
		"ratio-limit":               0,
		"rename-partial-files":      false,
		"incomplete-dir-enabled":    false,
		"blocklist-enabled":         false,
		"message-level":             2,
		// Its uTP and anacrolix's stall each other for seconds on loopback
		// (transmission falls back to TCP after a timeout); TCP is what
		// the others end up using.
		"utp-enabled": false,
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "settings.json"), data, 0o644)
}

func toolVersion(bin string, flag string) string {
	out, _ := exec.Command(bin, flag).CombinedOutput()
	for _, f := range strings.Fields(string(out)) {
		if len(f) > 0 && f[0] >= '0' && f[0] <= '9' && strings.Contains(f, ".") {
			return f
		}
	}
	return ""
}

// anacrolixCLI returns the given binary or installs the pinned version into
// the work directory (nothing of it is committed).
func (b *bench) anacrolixCLI(ctx context.Context) (string, error) {
	if b.opts.anacrolix != "" {
		return b.opts.anacrolix, nil
	}
	bin := filepath.Join(b.work, "bin", "torrent")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	b.logf("installing anacrolix's torrent CLI %s (go install, about a minute)", anacrolixVersion)
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/anacrolix/torrent/cmd/torrent@"+anacrolixVersion)
	cmd.Dir = b.work // outside our module: its own go.mod decides the deps
	cmd.Env = append(os.Environ(), "GOBIN="+filepath.Join(b.work, "bin"), "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return "", fmt.Errorf("go install github.com/anacrolix/torrent/cmd/torrent@%s failed: %v: %s", anacrolixVersion, err, lines[len(lines)-1])
	}
	return bin, nil
}
