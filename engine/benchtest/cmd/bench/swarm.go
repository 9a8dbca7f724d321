package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/swarmscope/swarmscope/engine/maketorrent"
)

// content is the torrent every contender downloads.
type content struct {
	torrent string // .torrent path
	dir     string // directory holding name/
	name    string
	size    int64
	files   []string // paths relative to dir/name
}

type contentSpec struct {
	Size     int64  `json:"size"`
	Files    int    `json:"files"`
	PieceLen int64  `json:"piece_len"`
	Announce string `json:"announce"`
}

const contentName = "swarmscope-bench"

// makeContent writes random files and a .torrent announcing to the local
// tracker, or reuses what an earlier run with the same spec left in the
// work directory.
func (b *bench) makeContent(announce string) (*content, error) {
	dir := filepath.Join(b.work, "content")
	spec := contentSpec{b.opts.size, b.opts.files, b.opts.pieceLen, announce}
	c := &content{torrent: filepath.Join(dir, contentName+".torrent"), dir: dir, name: contentName, size: b.opts.size}
	stamp := filepath.Join(dir, "spec.json")
	want, _ := json.Marshal(spec)
	if got, err := os.ReadFile(stamp); err == nil && string(got) == string(want) {
		if err := c.listFiles(); err == nil {
			b.logf("reusing content in %s", dir)
			warmCache(filepath.Join(dir, contentName))
			return c, nil
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b.logf("making %s of random data in %d files", human(b.opts.size), b.opts.files)
	res, err := maketorrent.Make(dir, c.torrent, maketorrent.Spec{
		Name:        contentName,
		FileSizes:   fileSizes(b.opts.size, b.opts.files),
		PieceLength: b.opts.pieceLen,
		Seed:        uint64(b.opts.size) ^ 0x5eed,
		Announce:    []string{announce},
	})
	if err != nil {
		return nil, err
	}
	if res.Size != b.opts.size {
		return nil, fmt.Errorf("made %d bytes, wanted %d", res.Size, b.opts.size)
	}
	if err := c.listFiles(); err != nil {
		return nil, err
	}
	return c, os.WriteFile(stamp, want, 0o644)
}

// fileSizes splits total into n unequal files (weights 1..n), so small and
// large files and piece boundaries inside files are all exercised.
func fileSizes(total int64, n int) []int64 {
	sizes := make([]int64, n)
	sum := int64(n * (n + 1) / 2)
	left := total
	for i := range n - 1 {
		sizes[i] = max(1, total*int64(i+1)/sum)
		left -= sizes[i]
	}
	sizes[n-1] = left
	return sizes
}

func (c *content) listFiles() error {
	c.files = nil
	var total int64
	root := filepath.Join(c.dir, c.name)
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			c.files = append(c.files, rel)
			total += fi.Size()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if total != c.size {
		return fmt.Errorf("content holds %d bytes, want %d", total, c.size)
	}
	if _, err := os.Stat(c.torrent); err != nil {
		return err
	}
	return nil
}

// warmCache reads the content once so every contender and the reference
// copy start from the page cache.
func warmCache(root string) {
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if f, err := os.Open(p); err == nil {
				io.Copy(io.Discard, f)
				f.Close()
			}
		}
		return nil
	})
}

// freePort finds a port free for both TCP and UDP on ip (trackers and
// BitTorrent clients use both), other than the ports to avoid (the
// contenders' fixed port).
func freePort(ip string, avoid ...int) (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !contains(avoid, port) && portFree(ip, port) {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port on %s", ip)
}

func portFree(ip string, port int) bool {
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	u.Close()
	return true
}

// daemon is a background process we started and must stop.
type daemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

func startDaemon(name, dir, logPath string, argv ...string) (*daemon, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	d := &daemon{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { cmd.Wait(); lf.Close(); close(d.done) }()
	return d, nil
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop asks politely, then insists.
func (d *daemon) stop() {
	if d == nil || d.exited() {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

// trackerPort picks the tracker's port: the same as last time if it is
// free, which keeps a reused torrent's announce URL valid (-work), so the
// content need not be made again.
func (b *bench) trackerPort() (int, error) {
	dir := filepath.Join(b.work, "tracker")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	portFile := filepath.Join(dir, "port")
	if old, err := os.ReadFile(portFile); err == nil {
		if p, err := strconv.Atoi(string(old)); err == nil && p != b.opts.leecherPort && portFree(b.ip, p) {
			return p, nil
		}
	}
	port, err := freePort(b.ip, b.opts.leecherPort)
	if err != nil {
		return 0, err
	}
	return port, os.WriteFile(portFile, []byte(strconv.Itoa(port)), 0o644)
}

// startTracker runs opentracker on b.ip:port and waits until it
// accepts. Debian's build only tracks whitelisted torrents, chroots into
// its directory and drops to nobody, so the whitelist is named relative to
// that directory and the directory is world-readable.
func (b *bench) startTracker(ctx context.Context, port int, infoHash string) (*daemon, error) {
	bin, err := b.lookTool("opentracker")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.work, "tracker")
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "whitelist.txt"), []byte(infoHash+"\n"), 0o644); err != nil {
		return nil, err
	}
	// In the private namespace it listens on every address there: each
	// seeder announces to its own (seederTorrent), so the tracker sees it
	// come from there. (One listen line per address would do too, but
	// Debian's opentracker stops answering with more than four.)
	addr := net.JoinHostPort(b.ip, strconv.Itoa(port))
	listen := addr
	if b.opts.inNetns {
		listen = net.JoinHostPort("0.0.0.0", strconv.Itoa(port))
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "listen.tcp_udp %s\n", listen)
	fmt.Fprintf(&conf, "access.whitelist whitelist.txt\ntracker.rootdir %s\n", dir)
	if os.Geteuid() == 0 {
		conf.WriteString("tracker.user nobody\n")
	}
	confPath := filepath.Join(dir, "opentracker.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		return nil, err
	}
	argv := []string{bin, "-f", confPath}
	d, err := startDaemon("opentracker", dir, filepath.Join(b.work, "logs", "opentracker.log"), argv...)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if d.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			d.stop()
			return nil, fmt.Errorf("opentracker did not start on %s (log %s): %v", addr, d.log, tail(d.log))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return d, nil
}

// startSeeders runs N seeders (swarmscope or aria2c, -seeders), each on
// its own hard-linked copy of the content (their state must not be shared;
// the data pages are), and waits until each is seeding and the tracker
// counts all of them as seeders, so the first contender finds them all.
func (b *bench) startSeeders(ctx context.Context, c *content, infoHash string, trackerPort int) ([]*daemon, error) {
	var seeders []*daemon
	stopAll := func() {
		for _, s := range seeders {
			s.stop()
		}
	}
	var aria2c string
	if b.opts.seederKind == "aria2c" {
		var err error
		if aria2c, err = b.lookTool("aria2c"); err != nil {
			return nil, err
		}
	}
	for i := range b.opts.seeders {
		dir := filepath.Join(b.work, "seed", strconv.Itoa(i))
		if err := os.RemoveAll(dir); err != nil {
			stopAll()
			return nil, err
		}
		for _, f := range c.files {
			dst := filepath.Join(dir, c.name, f)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				stopAll()
				return nil, err
			}
			if err := os.Link(filepath.Join(c.dir, c.name, f), dst); err != nil {
				stopAll()
				return nil, fmt.Errorf("linking seed data: %w", err)
			}
		}
		ip := b.seederIP(i)
		port, err := freePort(ip, b.opts.leecherPort)
		if err != nil {
			stopAll()
			return nil, err
		}
		tf, err := b.seederTorrent(c, ip, dir)
		if err != nil {
			stopAll()
			return nil, err
		}
		name := fmt.Sprintf("%s seeder %d", b.opts.seederKind, i)
		var d *daemon
		if aria2c != "" {
			// --bt-seed-unverified: the data is the content itself
			// (hard links), and hashing 4 GiB at start would only
			// delay the benchmark; --seed-ratio=0.0 seeds forever.
			d, err = startDaemon(name, dir, filepath.Join(b.work, "logs", fmt.Sprintf("seeder-%d.log", i)),
				aria2c, "--no-conf", "--dir", dir, "--seed-ratio=0.0", "--bt-seed-unverified=true",
				"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--disable-ipv6=true",
				"--interface="+ip, "--listen-port="+strconv.Itoa(port), "--bt-max-peers=0",
				"--summary-interval=0", "--console-log-level=notice", "--file-allocation=none",
				"--bt-save-metadata=false", "--auto-file-renaming=false", tf)
		} else {
			d, err = startDaemon(name, dir, filepath.Join(b.work, "logs", fmt.Sprintf("seeder-%d.jsonl", i)),
				b.opts.swarmscope, "--headless", "--json", "--seed", "--no-upnp", "--no-dht",
				"--port", strconv.Itoa(port), "--bind", ip, "--dir", dir, tf)
		}
		if err != nil {
			stopAll()
			return nil, err
		}
		seeders = append(seeders, d)
	}
	deadline := time.Now().Add(b.opts.timeout)
	if aria2c == "" {
		for _, s := range seeders {
			for !seeding(s.log) {
				if s.exited() || time.Now().After(deadline) || ctx.Err() != nil {
					stopAll()
					return nil, fmt.Errorf("%s did not start seeding (log %s): %v", s.name, s.log, tail(s.log))
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	// A seeder counts once the tracker lists it as complete.
	for {
		n, err := b.scrapeSeeders(trackerPort, infoHash)
		if err == nil && n >= b.opts.seeders {
			return seeders, nil
		}
		for _, s := range seeders {
			if s.exited() {
				stopAll()
				return nil, fmt.Errorf("%s exited (log %s): %v", s.name, s.log, tail(s.log))
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stopAll()
			return nil, fmt.Errorf("the tracker counts %d of %d seeders (scrape: %v)", n, b.opts.seeders, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// scrapeSeeders asks the tracker how many seeders it lists for the torrent.
func (b *bench) scrapeSeeders(trackerPort int, infoHash string) (int, error) {
	raw, err := hex.DecodeString(infoHash)
	if err != nil {
		return 0, err
	}
	u := fmt.Sprintf("http://%s/scrape?info_hash=%s", net.JoinHostPort(b.ip, strconv.Itoa(trackerPort)), url.QueryEscape(string(raw)))
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return 0, err
	}
	m := scrapeComplete.FindSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("scrape answer %q has no complete count", body)
	}
	return strconv.Atoi(string(m[1]))
}

var scrapeComplete = regexp.MustCompile(`8:completei(\d+)e`)

// seederTorrent writes the seeder's copy of the .torrent: the same info
// (and info hash), announcing to the tracker on the seeder's own address.
// An HTTP announce to a local address comes from that address, so the
// tracker hands out the seeder's real address. The addresses have equal
// lengths, so replacing the bytes keeps the bencoding valid.
func (b *bench) seederTorrent(c *content, ip, dir string) (string, error) {
	if ip == b.ip {
		return c.torrent, nil
	}
	raw, err := os.ReadFile(c.torrent)
	if err != nil {
		return "", err
	}
	from, to := "http://"+b.ip+":", "http://"+ip+":"
	if len(from) != len(to) || !bytes.Contains(raw, []byte(from)) {
		return "", fmt.Errorf("cannot retarget %s from %s to %s", c.torrent, b.ip, ip)
	}
	p := filepath.Join(dir, "seed.torrent")
	return p, os.WriteFile(p, bytes.ReplaceAll(raw, []byte(from), []byte(to)), 0o644)
}

// seeding reports whether a seeder's JSON log shows its torrent seeding.
func seeding(logPath string) bool {
	f, err := os.Open(logPath)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Type     string `json:"type"`
			Torrents []struct {
				State string `json:"state"`
			} `json:"torrents"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Type == "tick" && len(line.Torrents) == 1 && line.Torrents[0].State == "seeding" {
			return true
		}
	}
	return false
}

// tail returns the end of a log for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return fmt.Sprintf("%q", string(b))
}
