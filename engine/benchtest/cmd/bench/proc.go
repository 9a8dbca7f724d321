package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// usage is what one contender process cost. It comes from wait4's rusage of
// the contender itself (the same numbers /usr/bin/time -v prints), so no
// external tool is needed; a process that is not our child (the TUI under
// tmux) runs under `bench wrap`, which records them for us.
type usage struct {
	ExitCode int     `json:"exit_code"`
	WallS    float64 `json:"wall_s"`
	UserS    float64 `json:"user_s"`
	SysS     float64 `json:"sys_s"`
	MaxRSSKB int64   `json:"max_rss_kb"`
}

func (u usage) CPU() float64 { return u.UserS + u.SysS }

func usageOf(ps *os.ProcessState, wall time.Duration) usage {
	u := usage{ExitCode: ps.ExitCode(), WallS: wall.Seconds()}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		u.UserS = tvSeconds(ru.Utime)
		u.SysS = tvSeconds(ru.Stime)
		u.MaxRSSKB = ru.Maxrss // kilobytes on Linux
	}
	return u
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// runWrap implements `bench wrap OUT -- CMD ARGS...`: run CMD with our
// stdio, then write its usage as JSON to OUT (atomically, so a poller never
// reads half a file) and exit with its code.
func runWrap(args []string) int {
	if len(args) < 3 || args[1] != "--" {
		fmt.Fprintln(os.Stderr, "bench wrap: usage: bench wrap OUT -- CMD [ARGS...]")
		return 2
	}
	out := args[0]
	cmd := exec.Command(args[2], args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The terminal's signals are for the client; we only wait for it.
	// Caught (not ignored) signals revert to default in the child, so a
	// killed tmux session still ends the client.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGQUIT)
	start := time.Now()
	err := cmd.Start()
	if err == nil {
		// Pass them on: a hung-up terminal (tmux killed) must end the
		// client too, and only we, the session leader, are told.
		go func() {
			for s := range sigs {
				cmd.Process.Signal(s)
			}
		}()
		err = cmd.Wait()
	}
	if cmd.ProcessState == nil {
		fmt.Fprintf(os.Stderr, "bench wrap: %v\n", err)
		writeJSON(out, usage{ExitCode: 127})
		return 127
	}
	u := usageOf(cmd.ProcessState, time.Since(start))
	if err := writeJSON(out, u); err != nil {
		fmt.Fprintf(os.Stderr, "bench wrap: %v\n", err)
		return 1
	}
	return max(u.ExitCode, 0)
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readUsage(path string) (usage, error) {
	var u usage
	b, err := os.ReadFile(path)
	if err != nil {
		return u, err
	}
	if err := json.Unmarshal(b, &u); err != nil {
		return u, fmt.Errorf("%s: %w", path, err)
	}
	return u, nil
}
