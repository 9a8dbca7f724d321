// Package engine owns the BitTorrent client (anacrolix/torrent): it adds
// torrents, classifies each connection's origin, samples per-peer and
// per-path rates, and publishes immutable Snapshots and an Event stream.
// Nothing outside engine/ imports anacrolix.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/dht/v2"
	alog "github.com/anacrolix/log"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"github.com/anacrolix/torrent/types"
	"github.com/anacrolix/utp"
	"golang.org/x/time/rate"

	"github.com/swarmscope/swarmscope/engine/session"
	ourstorage "github.com/swarmscope/swarmscope/engine/storage"
	"github.com/swarmscope/swarmscope/engine/swarm"
)

// UPnPStatus tells the engine whether a UPnP mapping of its listen port is
// active; nat/upnp's mapper satisfies it.
type UPnPStatus interface {
	Active() bool
}

// Config configures an Engine. The zero value (plus DataDir) is a normal
// client on the OS network listening on an OS-chosen port.
type Config struct {
	DataDir    string // where torrent data is written
	ListenHost string // "" = all interfaces
	ListenPort int    // 0 = any
	MaxConns   int    // established connections per torrent; 0 = client default
	// PacketConn, when set, carries all peer traffic as uTP on this socket
	// instead of OS sockets (the simulated network); TCP, OS uTP and the DHT
	// are then off.
	PacketConn net.PacketConn
	NoDHT      bool
	NoTrackers bool
	NoPEX      bool
	NoUpload   bool
	UPnP       UPnPStatus // nil = no mapping; see SetUPnP
	// Byte rates; 0 = unlimited. Each engine has its own limiters.
	UploadLimit   int64
	DownloadLimit int64
	// MaxRequestDataPerConn bounds the piece data a peer may have requested
	// from us and not yet received; 0 = engine default.
	MaxRequestDataPerConn int
	Tick                  time.Duration // snapshot interval; default 1 s
	Log                   io.Writer     // client warnings; nil = discarded
	// PeerIDPrefix names this client to peers (BEP 20 style).
	PeerIDPrefix string
	// Tuning holds knobs the simulated demo needs (engine/tuning.go).
	Tuning Tuning
	// Verify re-hashes all data on disk before it counts as complete,
	// whatever the state file says (the --verify flag).
	Verify bool
	// StorageBuffer bounds the memory of pieces being downloaded; 0 =
	// engine/storage's default.
	StorageBuffer int64

	// dhtStartingNodes replaces the DHT's bootstrap nodes (tests: none
	// reachable, deterministically).
	dhtStartingNodes func(network string) dht.StartingNodesGetter
	// SessionDir, when set, remembers the torrents there (engine/session):
	// every change is saved, RestoreSession adds them back.
	SessionDir string
	// Seeding limits for every torrent (0 = none); a torrent's own limits
	// (SetSeedLimits) override them. At the limit seeding stops and the
	// torrent is finished.
	SeedRatio float64
	SeedTime  time.Duration
	// DHTBootstrap replaces the DHT's public bootstrap nodes (host:port).
	DHTBootstrap []string
}

// Engine is one BitTorrent client with swarmscope's bookkeeping around it.
type Engine struct {
	cfg     Config
	cl      *torrent.Client
	store   *ourstorage.Client
	utpSock *utp.Socket
	started time.Time

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	events chan swarm.Event
	// kick asks for a snapshot now rather than at the next tick, so that
	// completion is published (and headless exits) without a tick's delay.
	kick chan struct{}
	// evMu orders sends on events against closing it: anacrolix goroutines
	// may still log or call back while the client shuts down.
	evMu      sync.RWMutex
	evClosed  bool
	closeOnce sync.Once
	closeErr  error
	dropped   atomic.Int64
	snaps     chan swarm.Snapshot
	latest    atomic.Pointer[swarm.Snapshot]

	mu       sync.Mutex
	torrents map[string]*torrentState
	order    []string // infohashes in the order added
	peers    map[*torrent.PeerConn]*peerState
	closing  []*torrent.PeerConn
	connects map[netip.AddrPort]*connectRecord
	paths    [swarm.NumOrigins]pathState
	nextID   uint64
	natHint  string     // our NAT type as nat/ measured it, to explain failures
	bans     *banWatch  // engine/watchdog.go
	judge    *judge     // engine/smartban.go
	punch    *punchBook // engine/punchbook.go: holepunch rules and funnel

	dhtAnnounces atomic.Int64 // DHT announces started (engine/dhtannounce.go)

	session     *session.Store // nil: nothing is remembered (engine/persist.go)
	saveMu      sync.Mutex     // orders session writes
	announceKey int32          // BEP 3 key: the same client across IP changes
}

type torrentState struct {
	t          *torrent.Torrent
	src        Source
	addedAt    time.Time
	paused     bool
	err        string
	storageErr bool // err is a storage failure that Resume retries
	gotInfo    bool
	complete   bool
	closedDown int64 // payload from peers that have left
	closedUp   int64

	// Our own tracker announces and DHT lookups (engine/announce.go,
	// engine/dhtannounce.go); they end with ctx.
	ctx       context.Context
	cancel    context.CancelFunc
	announcer *torrentAnnouncer
	dht       *dhtEntry
	dhtWake   chan struct{}
	connected int // peers connected at the last tick
	// Session and seeding limits (engine/persist.go).
	persisted
}

type peerState struct {
	id        string
	ih        string
	origin    swarm.Origin
	transport swarm.Transport
	discovery swarm.Discovery
	addr      string
	encrypted bool
	since     time.Time
	rate      rateWindow
	down, up  int64 // last sampled payload totals
	// relay brought a holepunched peer to us; connectTook is from its
	// Connect to the connection (0: the connection came first).
	relay       string
	connectTook time.Duration
}

// connectRecord remembers a ut_holepunch Connect until the connection it
// asked for forms or the window passes.
type connectRecord struct {
	at       time.Time
	relay    string
	ih       string
	target   netip.AddrPort // the address the Connect named
	dialed   bool           // we dialed it because of the Connect
	resolved bool
}

// New starts a client. Close it to stop it and release its sockets.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("engine: no data directory")
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("engine: data directory: %w", err)
	}
	e := &Engine{
		cfg:         cfg,
		started:     time.Now(),
		done:        make(chan struct{}),
		events:      make(chan swarm.Event, 4096),
		snaps:       make(chan swarm.Snapshot, 1),
		kick:        make(chan struct{}, 1),
		torrents:    map[string]*torrentState{},
		peers:       map[*torrent.PeerConn]*peerState{},
		connects:    map[netip.AddrPort]*connectRecord{},
		punch:       newPunchBook(),
		announceKey: newAnnounceKey(),
	}
	for i, o := range swarm.AllOrigins() {
		e.paths[i].origin = o
	}
	e.ctx, e.cancel = context.WithCancel(ctx)
	e.judge = newJudge(e)

	stateDir := filepath.Join(cfg.DataDir, ".swarmscope")
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("engine: state directory: %w", err)
	}
	// Our own storage (engine/storage): pread/pwrite, pieces hashed from
	// memory, errors as values. anacrolix's mmap file storage turned a full
	// disk into SIGBUS and truncated existing files.
	store, err := ourstorage.New(ourstorage.Options{
		BaseDir:     cfg.DataDir,
		StateDir:    filepath.Join(stateDir, "state"),
		PathMaker:   safeFilePath,
		BufferBytes: cfg.StorageBuffer,
		VerifyAll:   cfg.Verify,
		OnError:     func(ih metainfo.Hash, err error) { go e.onStorageError(ih, err) },
		OnHashed:    e.judge.hashed, // engine/smartban.go: bad data judged per peer
		Admit:       e.judge.admit,
	})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.store = store
	if cfg.SessionDir != "" {
		if e.session, err = session.Open(cfg.SessionDir); err != nil {
			store.Close()
			return nil, fmt.Errorf("engine: %w", err)
		}
	}

	tc := torrent.NewDefaultClientConfig()
	tc.DataDir = cfg.DataDir
	tc.DefaultStorage = e.store
	tc.Seed = true // the CLI decides when to stop; the client must always serve
	tc.NoUpload = cfg.NoUpload
	tc.NoDefaultPortForwarding = true
	tc.NoDHT = cfg.NoDHT
	// Tracker announces and DHT lookups are ours (engine/announce.go,
	// engine/dhtannounce.go): anacrolix reports neither, and its DHT
	// announcer retries in a busy loop.
	tc.DisableTrackers = true
	tc.PeriodicallyAnnounceTorrentsToDht = false
	if cfg.dhtStartingNodes != nil {
		tc.DhtStartingNodes = cfg.dhtStartingNodes
	}
	if len(cfg.DHTBootstrap) > 0 {
		nodes := cfg.DHTBootstrap
		tc.DhtStartingNodes = func(string) dht.StartingNodesGetter {
			return func() ([]dht.Addr, error) { return dht.ResolveHostPorts(nodes) }
		}
	}
	tc.DisablePEX = cfg.NoPEX
	tc.DisableWebtorrent = true
	tc.ListenPort = cfg.ListenPort
	if cfg.ListenHost != "" {
		host := cfg.ListenHost
		tc.ListenHost = func(string) string { return host }
		// One host address means one family: the other would fail to bind.
		if a, err := netip.ParseAddr(host); err == nil {
			tc.DisableIPv6 = a.Is4()
			tc.DisableIPv4 = a.Is6()
		}
	}
	if cfg.PeerIDPrefix != "" {
		tc.Bep20 = cfg.PeerIDPrefix
	}
	tc.ExtendedHandshakeClientVersion = "swarmscope"
	cfg.Tuning.apply(tc)
	if cfg.MaxConns > 0 {
		tc.EstablishedConnsPerTorrent = cfg.MaxConns
		tc.HalfOpenConnsPerTorrent = min(tc.HalfOpenConnsPerTorrent, cfg.MaxConns)
	}
	tc.MaxAllocPeerRequestDataPerConn = DefaultMaxRequestDataPerConn
	if cfg.MaxRequestDataPerConn > 0 {
		tc.MaxAllocPeerRequestDataPerConn = cfg.MaxRequestDataPerConn
	}
	// The anacrolix defaults share one package-level limiter between every
	// client in the process; the demo runs many clients, so each gets its own.
	tc.UploadRateLimiter = newLimiter(cfg.UploadLimit)
	tc.DownloadRateLimiter = newLimiter(cfg.DownloadLimit)
	tc.Logger = e.newLogger(cfg.Log)
	tc.Slogger = nil
	if cfg.PacketConn != nil {
		tc.DisableTCP = true
		tc.DisableUTP = true
		tc.NoDHT = true
		tc.DisableIPv6 = true
	}
	e.installCallbacks(tc)
	// Dialers are added below, TCP first and uTP after a head start.
	osSockets := cfg.PacketConn == nil
	if osSockets {
		tc.DialForPeerConns = false
	}

	cl, err := torrent.NewClient(tc)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("engine: starting client on port %d: %w", cfg.ListenPort, err)
	}
	e.cl = cl
	if osSockets {
		addDialers(cl, e)
	}
	if cfg.PacketConn != nil {
		s, err := utp.NewSocketFromPacketConn(cfg.PacketConn)
		if err != nil {
			cl.Close()
			store.Close()
			return nil, fmt.Errorf("engine: uTP on the given socket: %w", err)
		}
		e.utpSock = s
		cl.AddDialer(bannedDialer{gatedDialer{utpDialer{s}, e}, e.judge})
		cl.AddListener(s)
	}
	e.noteLocalAddrs()
	go e.run()
	go e.watchdog()
	go e.punchLoop() // engine/punchplan.go
	return e, nil
}

func newLimiter(bps int64) *rate.Limiter {
	if bps <= 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	// A burst of at least one chunk (16 KiB) or the limiter stalls transfers.
	return rate.NewLimiter(rate.Limit(bps), int(max(bps, 1<<16)))
}

// safeFilePath maps a torrent file to a path below the data directory.
// Sources are validated before they are added; this is the second line of
// defence should anything slip past, since anacrolix joins paths unchecked.
func safeFilePath(opts storage.FilePathMakerOpts) string {
	var parts []string
	if n := opts.Info.BestName(); n != metainfo.NoName {
		parts = append(parts, sanitize(n))
	}
	for _, c := range opts.File.BestPath() {
		parts = append(parts, sanitize(c))
	}
	return filepath.Join(parts...)
}

func sanitize(c string) string {
	c = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, c)
	if c == "" || c == "." || c == ".." {
		return "_" + c + "_"
	}
	return c
}

// DefaultMaxRequestDataPerConn is the per-connection budget for piece data a
// peer has requested from us. anacrolix's 1 MiB default stalls uploads: each
// incoming request reserves its bytes in FIFO order from this budget, but the
// serving goroutine picks requests in Go's random map order and blocks on
// the first one it picks. With more than 1 MiB outstanding (64 chunks; a peer
// may queue 1024) it can wait on a reservation that is only granted once
// requests it has not served release theirs: the connection deadlocks. A
// budget that covers the whole request queue at the standard 16 KiB chunk
// size means every reservation is granted at once. It is a bound, not an
// allocation.
const DefaultMaxRequestDataPerConn = 1024 * 16 << 10

// UTPHeadStart is how long an outgoing uTP dial waits for the TCP dial to
// the same peer. anacrolix dials both at once and keeps whichever connects
// first; when uTP won (4 of 20 connections on loopback), libutp capped the
// transfer at about a tenth of TCP's rate. Peers that only speak uTP still
// connect, 250 ms later, and accepted uTP connections are unaffected.
const UTPHeadStart = 250 * time.Millisecond

// addDialers gives the client its listen sockets as dialers (as anacrolix
// does with DialForPeerConns), with uTP's dials delayed by UTPHeadStart,
// each behind the dial gate (engine/punchgate.go).
func addDialers(cl *torrent.Client, e *Engine) {
	for _, l := range cl.Listeners() {
		d, ok := l.(torrent.Dialer)
		if !ok {
			continue
		}
		if transportOf(d.DialerNetwork()) == swarm.TransportUTP {
			d = delayedDialer{d, UTPHeadStart}
		}
		cl.AddDialer(bannedDialer{gatedDialer{d, e}, e.judge})
	}
}

type delayedDialer struct {
	torrent.Dialer
	delay time.Duration
}

func (d delayedDialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	t := time.NewTimer(d.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return d.Dialer.Dial(ctx, addr)
}

type utpDialer struct{ s *utp.Socket }

func (d utpDialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return d.s.DialContext(ctx, "udp", addr)
}

func (d utpDialer) DialerNetwork() string { return "udp" }

// Close stops the client; data already verified stays on disk and in the
// completion database.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() { e.closeErr = e.close() })
	return e.closeErr
}

func (e *Engine) close() error {
	e.cancel()
	<-e.done
	e.announceStopped() // engine/stopped.go
	e.persistAll()      // the final counters (engine/persist.go)
	var errs []error
	for _, err := range e.cl.Close() {
		errs = append(errs, err)
	}
	if e.utpSock != nil {
		e.utpSock.Close()
	}
	if err := e.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing storage: %w", err))
	}
	e.evMu.Lock()
	e.evClosed = true
	close(e.events)
	e.evMu.Unlock()
	return errors.Join(errs...)
}

// Events returns the event stream. It has one reader; events that would
// block it are dropped rather than stall the client.
func (e *Engine) Events() <-chan swarm.Event { return e.events }

// Snapshots returns a channel that always holds the newest snapshot; older
// unread ones are replaced.
func (e *Engine) Snapshots() <-chan swarm.Snapshot { return e.snaps }

// Latest returns the newest snapshot (zero before the first tick).
func (e *Engine) Latest() swarm.Snapshot {
	if s := e.latest.Load(); s != nil {
		return *s
	}
	return swarm.Snapshot{}
}

// ListenAddr is the address peers can reach this client at, locally.
func (e *Engine) ListenAddr() string {
	if e.utpSock != nil {
		return e.utpSock.Addr().String()
	}
	if p := e.cl.LocalPort(); p != 0 {
		return fmt.Sprintf(":%d", p)
	}
	return ""
}

// ListenPort is the port the client listens on.
func (e *Engine) ListenPort() int {
	if e.utpSock != nil {
		if ua, ok := e.utpSock.Addr().(*net.UDPAddr); ok {
			return ua.Port
		}
	}
	return e.cl.LocalPort()
}

// Publish adds an event from outside the engine (nat/ reports) to the stream.
func (e *Engine) Publish(ev swarm.Event) { e.emit(ev) }

// SetUPnP replaces the UPnP status the engine consults when it labels
// accepted connections; the mapper usually starts after the engine, since
// it maps the engine's listen port.
func (e *Engine) SetUPnP(u UPnPStatus) {
	e.mu.Lock()
	e.cfg.UPnP = u
	e.mu.Unlock()
}

// SetNATType tells the engine what nat/ measured, so holepunch failures can
// say why they likely failed.
func (e *Engine) SetNATType(t string) {
	e.mu.Lock()
	e.natHint = t
	e.mu.Unlock()
}

func (e *Engine) emit(ev swarm.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	e.evMu.RLock()
	defer e.evMu.RUnlock()
	if e.evClosed {
		return
	}
	select {
	case e.events <- ev:
	default:
		e.dropped.Add(1)
	}
}

// AddSource parses and adds a magnet URI, 40-hex info hash or .torrent path.
func (e *Engine) AddSource(ctx context.Context, source string) (string, error) {
	src, err := ParseSource(source)
	if err != nil {
		return "", err
	}
	return src.InfoHash, e.Add(src)
}

// ErrAlreadyAdded is returned by Add for a torrent (by info hash, from a
// magnet or a file alike) that is already there.
var ErrAlreadyAdded = errors.New("already added")

// Add adds a parsed source. A torrent already there is left as it is, and
// the error (ErrAlreadyAdded) names it.
func (e *Engine) Add(src Source) error { return e.add(src, nil) }

func (e *Engine) add(src Source, rec *session.Record) error {
	if src.spec == nil {
		return fmt.Errorf("%w: source was not made by ParseSource", ErrBadSource)
	}
	if src.info != nil {
		if err := checkFits(e.cfg.DataDir, src.info); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadSource, src.Input, err)
		}
	}
	e.mu.Lock()
	old, dup := e.torrents[src.InfoHash]
	e.mu.Unlock()
	if dup {
		e.emit(swarm.Event{Kind: swarm.EventTorrentDuplicate, InfoHash: src.InfoHash, Message: fmt.Sprintf("%s is already there", displayName(old.src))})
		return fmt.Errorf("%w: %s (%s) is already there", ErrAlreadyAdded, displayName(old.src), src.InfoHash[:8])
	}
	// The trackers are announced to by us, not by anacrolix.
	spec := *src.spec
	tiers := takeTrackers(&spec)
	t, _, err := e.cl.AddTorrentSpec(&spec)
	if err != nil {
		return fmt.Errorf("adding %s: %w", src.InfoHash, err)
	}
	if e.cfg.MaxConns > 0 {
		t.SetMaxEstablishedConns(e.cfg.MaxConns)
	}
	// Hold data until the metadata has been validated: a magnet's info
	// dictionary comes from strangers and may try to escape the directory.
	t.DisallowDataDownload()
	// Write errors reach us from the storage (onStorageError); anacrolix's
	// default handler would only log and stop downloading for good.
	t.SetOnWriteChunkError(func(error) {})
	ts := &torrentState{t: t, src: src, addedAt: time.Now(), dhtWake: make(chan struct{}, 1)}
	ts.ctx, ts.cancel = context.WithCancel(e.ctx)
	ts.tiers = tiers
	private := src.info != nil && src.info.Private != nil && *src.info.Private
	ts.announcer = e.newAnnouncer(ts, tiers, private)
	e.restore(ts, rec) // engine/persist.go: paused, limits, totals of a remembered torrent
	e.mu.Lock()
	e.torrents[src.InfoHash] = ts
	e.order = append(e.order, src.InfoHash)
	e.mu.Unlock()
	what := "added"
	if rec != nil {
		what = "restored"
	}
	e.emit(swarm.Event{Kind: swarm.EventTorrentAdded, InfoHash: src.InfoHash, Message: fmt.Sprintf("%s %s %s", what, src.Kind, displayName(src))})
	e.persist(ts)
	ts.announcer.start()
	if !e.cfg.NoDHT && e.cfg.PacketConn == nil {
		ts.dht = &dhtEntry{status: swarm.DHTLookupNoNodes, seen: map[netip.AddrPort]bool{}}
	}
	go e.awaitInfo(ts)
	e.announceToDHT(ts)
	return nil
}

func displayName(src Source) string {
	if src.Name != "" {
		return src.Name
	}
	return src.InfoHash
}

func (e *Engine) awaitInfo(ts *torrentState) {
	select {
	case <-ts.t.GotInfo():
	case <-e.ctx.Done():
		return
	case <-ts.t.Closed():
		return
	}
	info := ts.t.Info()
	ih := ts.src.InfoHash
	err := validateInfo(info)
	if err == nil {
		err = checkFits(e.cfg.DataDir, info)
	}
	if err != nil {
		ts.t.Drop()
		e.mu.Lock()
		ts.err = "refused metadata: " + err.Error()
		e.mu.Unlock()
		e.emit(swarm.Event{Kind: swarm.EventError, InfoHash: ih, Message: "refused metadata: " + err.Error()})
		return
	}
	if err := e.store.Err(ts.t.InfoHash()); err != nil {
		e.setStorageError(ts, err)
		return
	}
	// File priorities, not DownloadAll's piece priorities: a piece's
	// priority is the highest of its own and its files', so pieces raised by
	// DownloadAll could never be skipped per file.
	for _, f := range ts.t.Files() {
		f.SetPriority(types.PiecePriorityNormal)
	}
	e.restorePriorities(ts) // engine/persist.go
	e.mu.Lock()
	ts.announcer.private = info.Private != nil && *info.Private
	ts.gotInfo = true
	paused := ts.paused || ts.err != ""
	e.mu.Unlock()
	if !paused {
		ts.t.AllowDataDownload()
	}
	go e.kickOnComplete(ts)
	e.saveMetainfo(ts)
	e.emit(swarm.Event{Kind: swarm.EventTorrentMetadata, InfoHash: ih, Message: fmt.Sprintf("metadata for %s: %d files, %s", info.BestName(), len(info.UpvertedFiles()), FormatBytes(info.TotalLength()))})
}

func (e *Engine) kickOnComplete(ts *torrentState) {
	select {
	case <-ts.t.Complete().On():
	case <-e.ctx.Done():
		return
	case <-ts.t.Closed():
		return
	}
	select {
	case e.kick <- struct{}{}:
	default:
	}
	// Trackers hear "completed" only from a download, not from data that
	// was already on disk.
	if st := ts.t.Stats(); st.BytesReadUsefulData.Int64() > 0 {
		ts.announcer.poke("completed")
	} else {
		ts.announcer.poke("seeding")
	}
}

// AddPeers tells a torrent about peer addresses (the demo's directory, or
// x.pe peers from the user).
func (e *Engine) AddPeers(infohash string, addrs []netip.AddrPort) error {
	ts, err := e.lookup(infohash)
	if err != nil {
		return err
	}
	pis := make([]torrent.PeerInfo, 0, len(addrs))
	for _, a := range addrs {
		pis = append(pis, torrent.PeerInfo{Addr: addrPortAddr(a), Source: torrent.PeerSourceDirect, Trusted: true})
	}
	ts.t.AddPeers(pis)
	return nil
}

type addrPortAddr netip.AddrPort

func (a addrPortAddr) String() string { return netip.AddrPort(a).String() }

func (e *Engine) lookup(infohash string) (*torrentState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ts, ok := e.torrents[strings.ToLower(infohash)]
	if !ok {
		return nil, fmt.Errorf("no torrent %s", infohash)
	}
	return ts, nil
}

// Pause stops transfers and drops the torrent's connections.
func (e *Engine) Pause(infohash string) error {
	ts, err := e.lookup(infohash)
	if err != nil {
		return err
	}
	e.mu.Lock()
	already := ts.paused
	ts.paused = true
	e.mu.Unlock()
	if already {
		return nil
	}
	ts.t.DisallowDataDownload()
	ts.t.DisallowDataUpload()
	ts.t.SetMaxEstablishedConns(0)
	ts.announcer.poke("stopped")
	e.persist(ts)
	return nil
}

// Resume undoes Pause.
func (e *Engine) Resume(infohash string) error {
	ts, err := e.lookup(infohash)
	if err != nil {
		return err
	}
	e.mu.Lock()
	was := ts.paused || ts.finished
	ts.paused = false
	got := ts.gotInfo
	failed := ts.storageErr
	e.mu.Unlock()
	if failed {
		return e.retryStorage(ts)
	}
	if !was {
		return nil
	}
	e.unfinish(ts) // engine/persist.go: a finished torrent seeds on, without limits
	defer func() {
		ts.announcer.poke("resume")
		e.wakeDHT(ts)
		e.persist(ts)
	}()
	conns := e.cfg.MaxConns
	if conns <= 0 {
		conns = torrent.NewDefaultClientConfig().EstablishedConnsPerTorrent
	}
	ts.t.SetMaxEstablishedConns(conns)
	ts.t.AllowDataUpload()
	if got {
		ts.t.AllowDataDownload()
	}
	return nil
}

// Remove drops a torrent. With deleteData its files are deleted too; the
// default keeps everything the user downloaded.
func (e *Engine) Remove(infohash string, deleteData bool) error {
	ts, err := e.lookup(infohash)
	if err != nil {
		return err
	}
	var files []string
	if deleteData && ts.t.Info() != nil {
		for _, f := range ts.t.Files() {
			files = append(files, filepath.Join(e.cfg.DataDir, safeFilePath(storage.FilePathMakerOpts{Info: ts.t.Info(), File: fileInfoOf(f)})))
		}
	}
	e.forget(ts) // engine/persist.go: out of the session, trackers told "stopped"
	ts.t.Drop()
	e.judge.forget(ts.t.InfoHash())
	e.mu.Lock()
	delete(e.torrents, ts.src.InfoHash)
	for i, ih := range e.order {
		if ih == ts.src.InfoHash {
			e.order = append(e.order[:i:i], e.order[i+1:]...)
			break
		}
	}
	e.mu.Unlock()
	var errs []error
	for _, f := range files {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	e.emit(swarm.Event{Kind: swarm.EventTorrentRemoved, InfoHash: ts.src.InfoHash, Message: fmt.Sprintf("removed %s (data %s)", ts.t.Name(), map[bool]string{true: "deleted", false: "kept"}[deleteData])})
	return errors.Join(errs...)
}

func fileInfoOf(f *torrent.File) *metainfo.FileInfo {
	fi := f.FileInfo()
	return &fi
}

// SetFilePriority sets how eagerly one file's pieces are fetched.
func (e *Engine) SetFilePriority(infohash string, file int, p swarm.Priority) error {
	ts, err := e.lookup(infohash)
	if err != nil {
		return err
	}
	if ts.t.Info() == nil {
		return errors.New("metadata not yet known")
	}
	files := ts.t.Files()
	if file < 0 || file >= len(files) {
		return fmt.Errorf("no file %d (torrent has %d)", file, len(files))
	}
	var pp types.PiecePriority
	switch p {
	case swarm.PrioritySkip:
		pp = types.PiecePriorityNone
	case swarm.PriorityHigh:
		pp = types.PiecePriorityHigh
	default:
		pp = types.PiecePriorityNormal
	}
	files[file].SetPriority(pp)
	e.persist(ts)
	return nil
}

// newLogger routes anacrolix's log: warnings to w, and the one debug line
// that reveals a holepunch rendezvous we sent (no callback exists for it).
func (e *Engine) newLogger(w io.Writer) alog.Logger {
	l := alog.Default.WithNames("swarmscope")
	l.SetHandlers(logHandler{e: e, w: w})
	return l.WithFilterLevel(alog.Debug)
}

type logHandler struct {
	e *Engine
	w io.Writer
}

const rendezvousLogText = "sent ut_holepunch rendezvous message to "

// parseRendezvousLog reads the torrent's log line "<infohash>: sent
// ut_holepunch rendezvous message to <conn> for <addr>".
func parseRendezvousLog(text string) (infohash, conn, target string, ok bool) {
	i := strings.Index(text, rendezvousLogText)
	j := strings.LastIndex(text, " for ")
	if i < 0 || j < i {
		return "", "", "", false
	}
	if k := strings.Index(text[:i], ": "); k == 40 {
		infohash = text[:k]
	}
	return infohash, text[i+len(rendezvousLogText) : j], text[j+len(" for "):], true
}

func (h logHandler) Handle(r alog.Record) {
	if r.Level == alog.Debug {
		if ih, relay, target, ok := parseRendezvousLog(r.Text()); ok {
			h.e.onRendezvousLog(ih, relay, target) // engine/punchplan.go
		}
		return
	}
	if h.w != nil && !r.Level.LessThan(alog.Warning) && !quietJudgeLog(r.Text()) {
		fmt.Fprintf(h.w, "%s %s: %s\n", time.Now().Format(time.TimeOnly), r.Level.LogString(), r.Text())
	}
}

// onStorageError puts the torrent whose storage failed (a full disk, an I/O
// error, a read-only file system, a file removed under us) into the error
// state: downloading stops, what is verified stays, Resume retries.
func (e *Engine) onStorageError(ih metainfo.Hash, err error) {
	ts, lerr := e.lookup(ih.HexString())
	if lerr != nil {
		return // not yet registered: awaitInfo finds the error itself
	}
	e.setStorageError(ts, err)
}

func (e *Engine) setStorageError(ts *torrentState, err error) {
	msg := oneLine(err)
	e.mu.Lock()
	already := ts.err == msg
	ts.err, ts.storageErr = msg, true
	e.mu.Unlock()
	ts.t.DisallowDataDownload()
	if already {
		return
	}
	e.emit(swarm.Event{Kind: swarm.EventError, InfoHash: ts.src.InfoHash, Message: msg})
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// retryStorage clears a storage error and downloads again; pieces whose
// data vanished meanwhile are fetched again.
func (e *Engine) retryStorage(ts *torrentState) error {
	lost, err := e.store.Retry(ts.t.InfoHash())
	if err != nil {
		e.setStorageError(ts, err)
		return err
	}
	for _, i := range lost {
		ts.t.Piece(i).UpdateCompletion()
	}
	e.mu.Lock()
	ts.err, ts.storageErr = "", false
	got, paused := ts.gotInfo, ts.paused
	e.mu.Unlock()
	if got && !paused {
		ts.t.AllowDataDownload()
	}
	e.emit(swarm.Event{Kind: swarm.EventTorrentAdded, InfoHash: ts.src.InfoHash, Message: "retrying " + ts.t.Name() + " after a storage error"})
	return nil
}
