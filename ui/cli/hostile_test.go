package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostileRSSLimit bounds the peak RSS of swarmscope refusing any hostile
// .torrent. Measured on linux/amd64 (go 1.26.8): 22-28 MiB for the corpus,
// 53 MiB for the 31 MiB token bomb, 96 MiB for the 17 MiB info dictionary
// (read, then decoded once), against 1-1.55 GB before the input limits.
const hostileRSSLimit = 128 << 20

// hostileTime bounds the refusal (the target). Refusals take
// milliseconds; the bound only catches a decoder that got loose.
const hostileTime = 2 * time.Second

type measured struct {
	result
	elapsed time.Duration
	maxRSS  int64 // bytes
}

// rssChildEnv makes the test binary a launcher that runs its arguments and
// writes the child's peak RSS to the file the variable names. Go starts
// children with vfork, so a child's ru_maxrss includes the memory of the
// process that started it: measured from the big test process it would
// read ~140 MiB whatever swarmscope did; from this small launcher it is
// swarmscope's own (or the launcher's ~10 MiB, whichever is more).
const rssChildEnv = "SWARMSCOPE_TEST_RSS_OUT"

func rssChild(out string, args []string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		return 125
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10 // KiB on Linux
	}
	if err := os.WriteFile(out, []byte(strconv.FormatInt(rss, 10)), 0o644); err != nil {
		return 125
	}
	return code
}

// runMeasured runs the binary and reports its peak RSS.
func runMeasured(t *testing.T, timeout time.Duration, args ...string) measured {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rssFile := filepath.Join(t.TempDir(), "rss")
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{binary}, args...)...)
	cmd.Env = append(os.Environ(), rssChildEnv+"="+rssFile)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	m := measured{elapsed: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("swarmscope %v still running after %s; stderr: %.500s", args, timeout, errb.String())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		m.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(rssFile)
	if err != nil {
		t.Fatalf("launcher wrote no RSS: %v; stderr: %.500s", err, errb.String())
	}
	m.maxRSS, _ = strconv.ParseInt(string(b), 10, 64)
	m.stdout, m.stderr = out.String(), errb.String()
	return m
}

// hostileInputs is engine/testdata/hostile plus the classes too big to keep
// in the repository, made here.
func hostileInputs(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../../engine/testdata/hostile/*.torrent")
	if err != nil || len(files) < 10 {
		t.Fatalf("hostile corpus missing (%d files, %v); run go run engine/testdata/hostile/gen.go", len(files), err)
	}
	in := map[string]string{}
	for _, f := range files {
		in[strings.TrimSuffix(filepath.Base(f), ".torrent")] = f
	}
	tmp := t.TempDir()
	write := func(name string, b []byte) {
		p := filepath.Join(tmp, name+".torrent")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		in[name] = p
	}
	// A file over the 32 MiB size cap (sparse: costs no disk).
	big := filepath.Join(tmp, "oversized-file.torrent")
	if err := os.WriteFile(big, []byte("d4:infod"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 40<<20); err != nil {
		t.Fatal(err)
	}
	in["oversized-file"] = big
	// An info dictionary of 17 MiB: more than peers could ever send.
	n := 17 << 20 / 20
	write("oversized-info", fmt.Appendf(nil, "d4:infod6:lengthi%de4:name1:x12:piece lengthi16384e6:pieces%d:%see",
		int64(n)*16384, n*20, bytes.Repeat([]byte{1}, n*20)))
	// 31 MiB of tiny values: more tokens than any real torrent has.
	write("token-bomb", []byte("d4:infod5:filesl"+strings.Repeat("i0e", 31<<20/3)+"eee"))
	return in
}

func TestHostileTorrentsExitTwo(t *testing.T) {
	dl := t.TempDir()
	for name, path := range hostileInputs(t) {
		t.Run(name, func(t *testing.T) {
			m := runMeasured(t, time.Minute, "--headless", "--no-upnp", "--no-dht", "--port", "0", "--dir", dl, path)
			t.Logf("%s: exit %d in %s, peak RSS %d MiB: %s", name, m.code, m.elapsed.Round(time.Millisecond), m.maxRSS>>20, strings.TrimSpace(m.stderr))
			if m.code != ExitUsage {
				t.Errorf("exit code %d, want %d", m.code, ExitUsage)
			}
			msg := strings.TrimRight(m.stderr, "\n")
			if msg == "" || strings.Contains(msg, "\n") {
				t.Errorf("want one line on stderr, got %q", m.stderr)
			}
			if !strings.Contains(msg, filepath.Base(path)) {
				t.Errorf("message %q does not name the file", msg)
			}
			if len(msg) > 400 {
				t.Errorf("message is %d bytes long", len(msg))
			}
			if m.elapsed > hostileTime {
				t.Errorf("took %s, want under %s", m.elapsed, hostileTime)
			}
			if m.maxRSS > hostileRSSLimit {
				t.Errorf("peak RSS %d MiB, want at most %d MiB", m.maxRSS>>20, hostileRSSLimit>>20)
			}
		})
	}
	entries, _ := os.ReadDir(dl)
	for _, e := range entries {
		if e.Name() != ".swarmscope" {
			t.Errorf("refused torrents left %s in the download directory", e.Name())
		}
	}
}

// Flag values that parse but are wrong are the user's mistake, and flags
// may come after SOURCE.
func TestFlagValuesExitTwo(t *testing.T) {
	dl := t.TempDir()
	src := strings.Repeat("ab", 20)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"negative upload limit", []string{"--upload-limit", "-5", src}, "--upload-limit"},
		{"negative download limit", []string{"--download-limit=-1", src}, "--download-limit"},
		{"peer port 0", []string{"--peer", "127.0.0.1:0", src}, "port 0"},
		{"peer unspecified", []string{"--peer", "0.0.0.0:6881", src}, "0.0.0.0"},
		{"bind not an IP", []string{"--bind", "999.1.1.1", src}, "999.1.1.1"},
		{"bind host name", []string{"--bind", "nosuchhost", src}, "nosuchhost"},
		{"bind foreign IP", []string{"--bind", "192.0.2.77", src}, "192.0.2.77"},
		{"flag after source", []string{src, "--upload-limit", "-5"}, "--upload-limit"},
		{"unknown flag after source", []string{src, "--bogus"}, "-bogus"},
		{"dashdash ends flags", []string{"--", "--bogus"}, `"--bogus" is not a magnet`},
		{"dir is a file", []string{"--dir", "/etc/hostname", src}, "--dir"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"--headless", "--no-upnp", "--no-dht", "--port", "0", "--dir", dl}, c.args...)
			r := runBinary(t, time.Minute, args...)
			msg := strings.TrimRight(r.stderr, "\n")
			if r.code != ExitUsage || msg == "" || strings.Contains(msg, "\n") || !strings.Contains(msg, c.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and one line naming %q", r.code, r.stderr, ExitUsage, c.want)
			}
		})
	}
}

// A FIFO as SOURCE used to block in open() with SIGINT caught and ignored.
// It is refused at once now; should anything block, SIGINT must still end
// the process within a second.
func TestFIFOSourceEndsOnSIGINT(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe.torrent")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	cmd := exec.Command(binary, "--headless", "--no-upnp", "--no-dht", "--port", "0", "--dir", t.TempDir(), fifo)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(200 * time.Millisecond)
	sent := time.Now()
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("still running 1 s after SIGINT; stderr: %q", errb.String())
	}
	code := cmd.ProcessState.ExitCode()
	t.Logf("exit %d, %s after SIGINT: %s", code, time.Since(sent).Round(time.Millisecond), strings.TrimSpace(errb.String()))
	if code != ExitUsage && code != ExitFailure {
		t.Errorf("exit code %d, want %d (refused) or %d (interrupted)", code, ExitUsage, ExitFailure)
	}
	if code == ExitUsage && !strings.Contains(errb.String(), "named pipe") {
		t.Errorf("refusal does not say it is a named pipe: %q", errb.String())
	}
}

var exitLine = regexp.MustCompile(`(?m)^EXIT:(\d+)`)

// The TUI interrupted by SIGINT before its torrent is complete exits 1, as
// the README says (it exited 0), and gives the terminal back.
func TestTUISIGINTBeforeCompletionExitsOne(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux not installed")
	}
	dir := t.TempDir()
	sock := fmt.Sprintf("swarmscope-cli-%d", os.Getpid())
	tm := func(args ...string) string {
		out, _ := exec.Command(tmux, append([]string{"-L", sock}, args...)...).CombinedOutput()
		return string(out)
	}
	defer tm("kill-server")
	tm("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "120", "-y", "40", "-c", dir, "env", "PS1=$ ", "TERM=xterm-256color", "HOME="+dir, "sh")
	pidFile := filepath.Join(dir, "pid")
	// A torrent nobody has: it cannot complete. The shell records the
	// pid of what it execs, so the signal goes to swarmscope alone.
	line := fmt.Sprintf(`sh -c 'echo $$ > %s; exec %s --no-upnp --no-dht --stun "" --port 0 --bind 127.0.0.1 --dir %s %s'; echo "EXIT:$?"`,
		pidFile, binary, filepath.Join(dir, "dl"), strings.Repeat("cd", 20))
	tm("send-keys", "-t", "t", line, "Enter")
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(tm("capture-pane", "-p", "-t", "t"), "listening on") {
		if time.Now().After(deadline) {
			t.Fatalf("TUI did not start:\n%s", tm("capture-pane", "-p", "-t", "t"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for {
		screen := tm("capture-pane", "-p", "-t", "t")
		if m := exitLine.FindStringSubmatch(screen); m != nil {
			if m[1] != "1" {
				t.Fatalf("exit %s after SIGINT, want 1; screen:\n%s", m[1], screen)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no exit after SIGINT; screen:\n%s", screen)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if v := strings.TrimSpace(tm("display-message", "-p", "-t", "t", "#{alternate_on}")); v != "0" {
		t.Errorf("alternate screen still on after exit (%q)", v)
	}
}
