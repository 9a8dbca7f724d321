package nslab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Transmission is a running transmission-daemon, controlled over RPC on the
// namespace's own loopback with transmission-remote.
type Transmission struct {
	*Proc
	Host     *Host
	PeerPort int
	Dir      string // download directory
	rpc      string
}

// StartTransmission runs transmission-daemon on the host with DHT, LPD and
// port mapping off (the lab's tracker is the only way to find peers), uTP
// on, and dir as its download directory. Data already in dir is verified
// and seeded when a torrent is added.
func (h *Host) StartTransmission(dir string, peerPort int) *Transmission {
	t := h.lab.t
	t.Helper()
	bin, err := LookPath("transmission-daemon")
	if err != nil {
		unavailable(t, "%v", err)
	}
	if _, err := LookPath("transmission-remote"); err != nil {
		unavailable(t, "%v", err)
	}
	cfg := filepath.Join(h.lab.dir, "transmission-"+h.Name)
	if err := os.MkdirAll(cfg, 0o755); err != nil {
		t.Fatalf("nslab: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("nslab: %v", err)
	}
	settings := map[string]any{
		"dht-enabled":                 false,
		"lpd-enabled":                 false,
		"pex-enabled":                 true,
		"port-forwarding-enabled":     false,
		"utp-enabled":                 true,
		"peer-port":                   peerPort,
		"peer-port-random-on-start":   false,
		"rpc-enabled":                 true,
		"rpc-bind-address":            "127.0.0.1",
		"rpc-port":                    9091,
		"rpc-authentication-required": false,
		"rpc-whitelist-enabled":       false,
		"rpc-host-whitelist-enabled":  false,
		"download-dir":                dir,
		"incomplete-dir-enabled":      false,
		"blocklist-enabled":           false,
		"ratio-limit-enabled":         false,
		"idle-seeding-limit-enabled":  false,
		"start-added-torrents":        true,
		"encryption":                  1,
		"message-level":               2,
		"cache-size-mb":               4,
	}
	b, _ := json.MarshalIndent(settings, "", "  ")
	if err := os.WriteFile(filepath.Join(cfg, "settings.json"), b, 0o644); err != nil {
		t.Fatalf("nslab: %v", err)
	}
	tr := &Transmission{Host: h, PeerPort: peerPort, Dir: dir, rpc: "127.0.0.1:9091"}
	tr.Proc = h.Start(bin, "-f", "-g", cfg)
	if err := h.WaitTCP(tr.rpc, 15*time.Second); err != nil {
		t.Fatalf("nslab: transmission-daemon did not come up: %v\n%s", err, tr.Output())
	}
	return tr
}

// Remote runs transmission-remote against this daemon.
func (tr *Transmission) Remote(args ...string) (string, error) {
	return tr.Host.Run("transmission-remote", append([]string{tr.rpc}, args...)...)
}

// Add adds a torrent file; it starts at once.
func (tr *Transmission) Add(torrentPath string) error {
	out, err := tr.Remote("-a", torrentPath)
	if err != nil {
		return err
	}
	if !strings.Contains(out, "success") {
		return fmt.Errorf("transmission-remote -a: %s", strings.TrimSpace(out))
	}
	return nil
}

var percentDone = regexp.MustCompile(`Percent Done:\s*([0-9.]+|nan)%`)

// Verify makes the daemon re-check the first torrent's data, e.g. after a
// SIGKILL that left its resume state behind the data.
func (tr *Transmission) Verify() error {
	out, err := tr.Remote("-t", "1", "-v")
	if err != nil {
		return err
	}
	if !strings.Contains(out, "success") {
		return fmt.Errorf("transmission-remote -v: %s", strings.TrimSpace(out))
	}
	return nil
}

// PercentDone is the first torrent's completion, 0..100.
func (tr *Transmission) PercentDone() (float64, error) {
	out, err := tr.Remote("-t", "1", "-i")
	if err != nil {
		return 0, err
	}
	m := percentDone.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no Percent Done in: %s", strings.TrimSpace(out))
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v, nil
}

// Info is the first torrent's `transmission-remote -t 1 -i` text.
func (tr *Transmission) Info() string {
	out, err := tr.Remote("-t", "1", "-i")
	if err != nil {
		return err.Error()
	}
	return out
}

// Peers is the first torrent's `-pi` peer list text.
func (tr *Transmission) Peers() string {
	out, err := tr.Remote("-t", "1", "-pi")
	if err != nil {
		return err.Error()
	}
	return out
}

// WaitDone waits until the first torrent is complete (and, for a seeder,
// verified).
func (tr *Transmission) WaitDone(timeout time.Duration) error {
	return WaitFor(timeout, func() (bool, error) {
		if tr.Exited() {
			return false, Stop(fmt.Errorf("transmission-daemon exited: %v", tr.Err()))
		}
		p, err := tr.PercentDone()
		if err != nil {
			return false, err
		}
		return p >= 100, fmt.Errorf("%.1f%% done", p)
	})
}

// Aria2Args are aria2c flags that keep it inside the lab: no local peer
// discovery, no peer exchange, a fixed listen port, integrity checks. aria2
// speaks UDP trackers only through its DHT socket, so the DHT is on, with
// an empty routing table of its own (a fresh file in dir, no entry point):
// it has nobody to talk to.
func Aria2Args(dir string, listenPort int) []string {
	return []string{
		"--dir=" + dir,
		"--enable-dht=true",
		"--dht-listen-port=" + strconv.Itoa(listenPort),
		"--dht-file-path=" + filepath.Join(dir, ".aria2-dht.dat"),
		"--enable-dht6=false",
		"--bt-enable-lpd=false",
		"--enable-peer-exchange=false",
		"--listen-port=" + strconv.Itoa(listenPort),
		"--check-integrity=true",
		"--bt-hash-check-seed=true",
		"--summary-interval=1",
		"--console-log-level=notice",
		"--disable-ipv6=true",
		"--file-allocation=none",
		"--allow-overwrite=true",
	}
}

// StartAria2Seeder seeds a torrent whose data is in tt.DataDir with aria2c
// (--seed-ratio=0.0 seeds forever).
func (h *Host) StartAria2Seeder(tt *Torrent, listenPort int) *Proc {
	h.lab.t.Helper()
	bin, err := LookPath("aria2c")
	if err != nil {
		unavailable(h.lab.t, "%v", err)
	}
	args := append(Aria2Args(tt.DataDir, listenPort), "--seed-ratio=0.0", tt.Path)
	return h.Start(bin, args...)
}

// StartAria2Leecher downloads a torrent into dir with aria2c and exits 0
// once the data is complete and verified (--seed-time=0).
func (h *Host) StartAria2Leecher(tt *Torrent, dir string, listenPort int) *Proc {
	h.lab.t.Helper()
	bin, err := LookPath("aria2c")
	if err != nil {
		unavailable(h.lab.t, "%v", err)
	}
	args := append(Aria2Args(dir, listenPort), "--seed-time=0", tt.Path)
	return h.Start(bin, args...)
}

// SetUploadLimit caps the daemon's total upload rate (KB/s), so a download
// from it lasts long enough to inject faults; 0 removes the cap.
func (tr *Transmission) SetUploadLimit(kBps int) error {
	arg := "-U"
	args := []string{arg}
	if kBps > 0 {
		args = []string{"-u", strconv.Itoa(kBps)}
	}
	out, err := tr.Remote(args...)
	if err != nil {
		return err
	}
	if !strings.Contains(out, "success") {
		return fmt.Errorf("transmission-remote %s: %s", strings.Join(args, " "), strings.TrimSpace(out))
	}
	return nil
}

// QBittorrent is a running qbittorrent-nox (libtorrent), whose Web API
// listens on the namespace's own loopback.
type QBittorrent struct {
	*Proc
	Host     *Host
	PeerPort int
	api      string
}

// StartQBittorrent runs qbittorrent-nox on the host with the torrent added
// and saved to dir (data already there is checked and seeded). DHT, local
// peer discovery and UPnP are off; PEX is on (libtorrent then announces the
// peers it holds, which ut_holepunch rendezvous need).
func (h *Host) StartQBittorrent(tt *Torrent, dir string, peerPort int) *QBittorrent {
	t := h.lab.t
	t.Helper()
	bin, err := LookPath("qbittorrent-nox")
	if err != nil {
		unavailable(t, "%v", err)
	}
	profile := filepath.Join(h.lab.dir, "qbittorrent-"+h.Name)
	confDir := filepath.Join(profile, "qBittorrent", "config")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatalf("nslab: %v", err)
	}
	conf := strings.Join([]string{
		"[LegalNotice]",
		"Accepted=true",
		"",
		"[BitTorrent]",
		"Session\\DHTEnabled=false",
		"Session\\LSDEnabled=false",
		"Session\\PeXEnabled=true",
		"Session\\Port=" + strconv.Itoa(peerPort),
		"Session\\DefaultSavePath=" + dir,
		"Session\\GlobalMaxRatio=-1",
		"Session\\QueueingSystemEnabled=false",
		"",
		"[Preferences]",
		"Connection\\UPnP=false",
		"WebUI\\Address=127.0.0.1",
		"WebUI\\Port=8080",
		"WebUI\\LocalHostAuth=false",
		"WebUI\\CSRFProtection=false",
		"WebUI\\HostHeaderValidation=false",
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(confDir, "qBittorrent.conf"), []byte(conf), 0o644); err != nil {
		t.Fatalf("nslab: %v", err)
	}
	q := &QBittorrent{Host: h, PeerPort: peerPort, api: "http://127.0.0.1:8080"}
	q.Proc = h.StartWith(StartOptions{Env: []string{"HOME=" + profile}}, bin,
		"--profile="+profile, "--webui-port=8080", "--torrenting-port="+strconv.Itoa(peerPort),
		"--save-path="+dir, "--skip-dialog=true", tt.Path)
	if err := h.WaitTCP("127.0.0.1:8080", 30*time.Second); err != nil {
		t.Fatalf("nslab: qbittorrent-nox did not come up: %v\n%s", err, q.Output())
	}
	return q
}

// Torrents is the Web API's torrent list (JSON).
func (q *QBittorrent) Torrents() ([]map[string]any, error) {
	body, err := q.Host.HTTPGet(q.api + "/api/v2/torrents/info")
	if err != nil {
		return nil, err
	}
	var list []map[string]any
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("qbittorrent torrents/info: %w: %.200s", err, body)
	}
	return list, nil
}

// WaitDone waits until the first torrent is complete (checked, for a seeder).
func (q *QBittorrent) WaitDone(timeout time.Duration) error {
	return WaitFor(timeout, func() (bool, error) {
		if q.Exited() {
			return false, Stop(fmt.Errorf("qbittorrent-nox exited: %v", q.Err()))
		}
		list, err := q.Torrents()
		if err != nil {
			return false, err
		}
		if len(list) == 0 {
			return false, fmt.Errorf("no torrent yet")
		}
		p, _ := list[0]["progress"].(float64)
		st, _ := list[0]["state"].(string)
		return p >= 1 && !strings.HasPrefix(st, "checking"), fmt.Errorf("progress %.3f state %s", p, st)
	})
}
