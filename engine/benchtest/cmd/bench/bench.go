package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const anacrolixVersion = "v1.59.1"

// bench holds one run's state.
type bench struct {
	opts options
	log  io.Writer // progress
	out  io.Writer // the report

	root string // repository root
	// net is the address prefix of the download swarm: clients and the
	// tracker use net+"10", seeder i net+(11+i). Every seeder has its own
	// address because transmission keeps one peer per address.
	net  string
	ip   string // net + "10"
	work string
	self string // this program, for `bench wrap` and `bench mempeers`

	report   strings.Builder
	profiles []string // CPU profiles of the profile contender
	failed   []string // sections or contenders that failed
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  %s\n", time.Now().Format(time.TimeOnly), fmt.Sprintf(format, args...))
}

func (b *bench) run(ctx context.Context) error {
	var err error
	if b.root, err = repoRoot(); err != nil {
		return err
	}
	if b.self, err = os.Executable(); err != nil {
		return fmt.Errorf("finding this program: %w", err)
	}
	if b.opts.work == "" {
		if b.work, err = os.MkdirTemp("", "swarmscope-bench-"); err != nil {
			return err
		}
		if !b.opts.keep {
			defer os.RemoveAll(b.work)
		}
	} else {
		b.work = b.opts.work
		if err := os.MkdirAll(b.work, 0o755); err != nil {
			return err
		}
	}
	// On the host's loopback everything is 127.0.0.1: an unbound socket
	// talking to any 127.x address comes from 127.0.0.1, so the tracker
	// would see every announce come from there.
	b.ip = "127.0.0.1"
	if b.opts.inNetns {
		b.net = netnsPrefix
		b.ip = b.net + "10"
		if err := setupNetns(ctx, b.swarmIPs()); err != nil {
			return err
		}
	}
	if b.opts.inNetns {
		if err := b.download(ctx); err != nil {
			fmt.Fprint(b.out, b.report.String())
			return err
		}
		fmt.Fprint(b.out, b.report.String())
		return nil
	}
	b.logf("work directory %s", b.work)
	fmt.Fprintf(&b.report, "# swarmscope benchmark\n\n%s, %s, %d CPUs, %s\n", time.Now().UTC().Format(time.RFC3339), runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), cpuModel())

	if b.opts.sections["download"] || b.opts.sections["nat"] {
		if b.opts.swarmscope == "" {
			b.opts.swarmscope = filepath.Join(b.work, "bin", "swarmscope")
			b.logf("building swarmscope")
			if err := b.goCmd(ctx, "build", "-o", b.opts.swarmscope, ".").Run(); err != nil {
				return fmt.Errorf("building swarmscope: %w", err)
			}
		}
	}
	for _, s := range []struct {
		name string
		fn   func(context.Context) error
	}{{"download", b.downloadAnywhere}, {"nat", b.nat}, {"view", b.view}, {"mem", b.mem}} {
		if !b.opts.sections[s.name] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.fn(ctx); err != nil {
			b.logf("%s: %v", s.name, err)
			fmt.Fprintf(&b.report, "\n%s: FAILED: %v\n", s.name, err)
			b.failed = append(b.failed, s.name)
		}
	}
	fmt.Fprint(b.out, b.report.String())
	if len(b.failed) > 0 {
		return fmt.Errorf("failed: %s", strings.Join(b.failed, ", "))
	}
	return nil
}

// netnsPrefix is the download swarm's addresses in the private namespace
// the download runs in: transmission-cli refuses peers on 127.0.0.0/8, so
// loopback alone will not do. They are from the benchmarking range
// (RFC 2544) and exist only inside the namespace, on its loopback device:
// nothing leaves it.
const netnsPrefix = "198.18.0."

// swarmIPs are the addresses of the client (first) and the seeders. Their
// strings have the same length, which lets a seeder's .torrent differ from
// the client's only in the tracker address (seeder.go).
func (b *bench) swarmIPs() []string {
	ips := []string{b.net + "10"}
	for i := range b.opts.seeders {
		ips = append(ips, b.net+strconv.Itoa(11+i))
	}
	return ips
}

// seederIP is seeder i's address: its own in the private namespace, the
// client's on the host's loopback (there no contender needs them apart).
func (b *bench) seederIP(i int) string {
	if !b.opts.inNetns {
		return b.ip
	}
	return b.swarmIPs()[1+i]
}

func setupNetns(ctx context.Context, ips []string) error {
	cmds := [][]string{{"link", "set", "lo", "up"}}
	for _, ip := range ips {
		cmds = append(cmds, []string{"addr", "add", ip + "/32", "dev", "lo"})
	}
	for _, args := range cmds {
		if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// downloadAnywhere runs the download section in a new network namespace
// when it can (root and iproute2): a child of this program does it there,
// after the parent has built and installed what needs the network.
// Otherwise it runs here on 127.0.0.1, without transmission-cli.
func (b *bench) downloadAnywhere(ctx context.Context) error {
	_, ipErr := exec.LookPath("ip")
	if os.Geteuid() != 0 || ipErr != nil || b.opts.noNetns {
		b.logf("downloading on the host's loopback (not root, no iproute2 or -no-netns): transmission-cli finds no peers there")
		return b.download(ctx)
	}
	var contenders, skipped []string
	if b.opts.skipped != "" {
		skipped = append(skipped, b.opts.skipped)
	}
	args := slices.Clone(os.Args[1:])
	for _, c := range b.opts.contenders {
		if c == "anacrolix" {
			bin, err := b.anacrolixCLI(ctx)
			if err != nil {
				// Even in CI: it comes from the module proxy, not from
				// the machine's packages, and is only a reference.
				b.logf("skipping anacrolix: %v", err)
				skipped = append(skipped, "anacrolix: "+err.Error())
				continue
			}
			args = append(args, "-anacrolix", bin)
		}
		contenders = append(contenders, c)
	}
	if len(contenders) == 0 {
		return errors.New("no contender left to run")
	}
	args = append(args, "-in-netns", "-sections", "download", "-contenders", strings.Join(contenders, ","),
		"-swarmscope", b.opts.swarmscope, "-work", b.work, "-keep", "-skipped", strings.Join(skipped, "; "))
	cmd := exec.CommandContext(ctx, b.self, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	// Interrupted, the child still stops its seeders and tracker.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, b.log
	b.logf("downloading in a new network namespace on %s0/24", netnsPrefix)
	err := cmd.Run()
	b.report.WriteString(out.String())
	if err != nil {
		return fmt.Errorf("download run in the network namespace: %w", err)
	}
	return nil
}

func (b *bench) goCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = b.root
	cmd.Stdout, cmd.Stderr = b.log, b.log
	return cmd
}

// repoRoot finds the swarmscope module above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/swarmscope/swarmscope\n") {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("run from inside the swarmscope repository (no go.mod of github.com/swarmscope/swarmscope above the working directory)")
		}
		dir = up
	}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// lookTool finds a contender's program; a missing one is skipped with a
// note, or fails the run under SWARMSCOPE_LAB=1.
func (b *bench) lookTool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not installed (Debian: apt-get install %s)", name, debianPackage(name))
	}
	return p, nil
}

func debianPackage(tool string) string {
	if tool == "aria2c" {
		return "aria2"
	}
	return tool
}
