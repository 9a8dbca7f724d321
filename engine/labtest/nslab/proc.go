package nslab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a background process running in a lab namespace. Its standard
// output and error go to LogPath. The lab stops it when the test ends.
type Proc struct {
	Name    string
	Host    *Host
	Cmd     *exec.Cmd
	LogPath string

	done chan struct{}
	mu   sync.Mutex
	err  error
	log  *os.File
	// stdout, when set, receives standard output instead of the log.
	stdout *bytes.Buffer
}

// StartOptions tweak Start.
type StartOptions struct {
	// Dir is the working directory.
	Dir string
	// Env is added to the inherited environment.
	Env []string
	// SeparateStdout keeps standard output apart from the log (which then
	// holds standard error only); read it with Stdout.
	SeparateStdout bool
}

// Start runs a program in the background inside the host's namespace.
func (h *Host) Start(name string, args ...string) *Proc {
	h.lab.t.Helper()
	return h.StartWith(StartOptions{}, name, args...)
}

// StartWith is Start with options.
func (h *Host) StartWith(opt StartOptions, name string, args ...string) *Proc {
	l := h.lab
	l.t.Helper()
	l.mu.Lock()
	n := len(l.procs)
	l.mu.Unlock()
	logPath := filepath.Join(l.dir, fmt.Sprintf("%02d-%s-%s.log", n, h.Name, filepath.Base(name)))
	f, err := os.Create(logPath)
	if err != nil {
		l.t.Fatalf("nslab: log file: %v", err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
	cmd.Dir = opt.Dir
	if len(opt.Env) > 0 {
		cmd.Env = append(os.Environ(), opt.Env...)
	}
	p := &Proc{Name: h.Name + "/" + filepath.Base(name), Host: h, Cmd: cmd, LogPath: logPath, done: make(chan struct{}), log: f}
	cmd.Stderr = f
	if opt.SeparateStdout {
		p.stdout = &bytes.Buffer{}
		cmd.Stdout = &lockedWriter{mu: &p.mu, w: p.stdout}
	} else {
		cmd.Stdout = f
	}
	// Its own process group, so a stop reaches any children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		l.t.Fatalf("nslab: start %s in %s: %v", name, h.NS, err)
	}
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		f.Close()
		close(p.done)
	}()
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(b)
}

// Pid is the process id (ip netns exec execs the program in place).
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is the exit error once the process has exited (nil for status 0).
func (p *Proc) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// ExitCode is the exit status, or -1 while running or when killed by a
// signal.
func (p *Proc) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.Cmd.ProcessState.ExitCode()
}

// Wait waits up to timeout for the process to exit and returns its error.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.Err()
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v: %w", p.Name, timeout, ErrTimeout)
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return fmt.Errorf("%s has exited", p.Name)
	}
	return p.Cmd.Process.Signal(sig)
}

// Stop ends the process: SIGTERM, then after 10 s SIGKILL to its group.
func (p *Proc) Stop() {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(10 * time.Second):
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// Kill ends the process group at once with SIGKILL and waits for it.
func (p *Proc) Kill() {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// Output is what the process has written to its log so far.
func (p *Proc) Output() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	return string(b)
}

// Stdout is the standard output so far of a process started with
// SeparateStdout.
func (p *Proc) Stdout() string {
	if p.stdout == nil {
		return p.Output()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

// WaitOutput waits until the log contains substr.
func (p *Proc) WaitOutput(substr string, timeout time.Duration) error {
	return WaitFor(timeout, func() (bool, error) {
		if strings.Contains(p.Output(), substr) {
			return true, nil
		}
		if p.Exited() {
			return false, Stop(fmt.Errorf("%s exited (%v) before printing %q", p.Name, p.Err(), substr))
		}
		return false, nil
	})
}
