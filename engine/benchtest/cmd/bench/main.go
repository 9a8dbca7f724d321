// Command bench measures swarmscope side by side with the clients a user
// would pick instead, on one machine, over loopback:
//
//   - download: one torrent of random data (default 1 GiB, several files),
//     seeded by N swarmscope or aria2c seeders (-seeders) found through a
//     local opentracker,
//     fetched in alternating order over several rounds by swarmscope
//     headless, swarmscope with its TUI (under tmux at 160x48), anacrolix's
//     own `torrent download`, aria2c and transmission-cli; plus the page
//     cache copy (`cat`) as the physical reference;
//   - nat: `swarmscope nat` against the in-process RFC 5780 STUN server on
//     127.0.0.1/127.0.0.2;
//   - view: the TUI's View() benchmark (go test -bench View ./ui/tui/);
//   - mem: heap of one engine with 1,000 connected peers.
//
// Run it from the repository root (testdata/bench/run.sh does the setup
// and then this):
//
//	go run ./engine/benchtest/cmd/bench                  # everything, 1 GiB, 4 swarmscope seeders, 3 rounds
//	go run ./engine/benchtest/cmd/bench -seeders aria2c  # the same from aria2c seeders
//	go run ./engine/benchtest/cmd/bench -size 64MiB -rounds 1
//	go run ./engine/benchtest/cmd/bench -sections nat,view
//	go run ./engine/benchtest/cmd/bench -smoke           # tiny version that CI runs
//
// engine/benchtest's TestBenchSmoke runs the smoke version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

type options struct {
	size       int64
	files      int
	pieceLen   int64
	seeders    int    // how many
	seederKind string // swarmscope or aria2c
	// leecherPort is the port every contender listens on, one after the
	// other: the tracker then holds one stale entry at most, not one per
	// run (random ports filled it and stalled later runs).
	leecherPort int
	// dht turns the DHT on in swarmscope's and anacrolix's contenders,
	// with nobody to reach (it measures what a failing DHT costs).
	dht        bool
	rounds     int
	contenders []string
	sections   map[string]bool
	work       string
	keep       bool
	swarmscope string
	anacrolix  string
	timeout    time.Duration
	natRuns    int
	memPeers   int
	benchtime  string
	smoke      bool
	// strict turns a missing contender tool into a failure instead of a
	// skipped row (SWARMSCOPE_LAB=1 in CI).
	strict bool
	// inNetns: this process is the download run inside the private network
	// namespace its parent made; skipped carries the parent's notes.
	inNetns bool
	skipped string
	noNetns bool
}

var (
	defaultContenders = []string{"headless", "tui", "anacrolix", "aria2c", "transmission"}
	// profile: the engine in this process under pprof, as headless runs it.
	allContenders = append(slices.Clone(defaultContenders), "profile")
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "wrap":
			os.Exit(runWrap(os.Args[2:]))
		case "mempeers":
			os.Exit(runMemPeers(os.Args[2:]))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	b := &bench{opts: o, log: stderr, out: stdout}
	if err := b.run(ctx); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	size := fs.String("size", "1GiB", "torrent `size` (B, KiB, MiB, GiB)")
	piece := fs.String("piece", "auto", "piece `length` (auto: 1 MiB from 512 MiB up, else 256 KiB)")
	fs.IntVar(&o.files, "files", 8, "number of files in the torrent")
	fs.StringVar(&o.seederKind, "seeders", "swarmscope", "seeder `client`: swarmscope or aria2c (the same seeders serve every contender)")
	fs.IntVar(&o.seeders, "seeder-count", 4, "`number` of seeders")
	fs.BoolVar(&o.dht, "dht", false, "DHT on for the swarmscope and anacrolix contenders (the swarm is on loopback: no DHT node is reachable, so this measures what a failing DHT costs)")
	fs.IntVar(&o.leecherPort, "port", 51820, "the `port` every contender listens on (TCP and UDP), the same for all so the tracker does not fill with stale peers")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; the contenders' order alternates between rounds")
	contenders := fs.String("contenders", strings.Join(defaultContenders, ","), "contenders to run, `list` of "+strings.Join(allContenders, ",")+" (profile: the engine in-process under pprof)")
	sections := fs.String("sections", "download,nat,view,mem", "what to measure, `list` of download,nat,view,mem")
	fs.StringVar(&o.work, "work", "", "work `directory` (default: a new temporary directory, removed afterwards); content made there is reused when the spec matches")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory")
	fs.StringVar(&o.swarmscope, "swarmscope", "", "swarmscope `binary` (default: go build from the repository)")
	fs.StringVar(&o.anacrolix, "anacrolix", "", "anacrolix `torrent` binary (default: go install github.com/anacrolix/torrent/cmd/torrent@"+anacrolixVersion+" into the work directory)")
	fs.DurationVar(&o.timeout, "timeout", 0, "limit for one download (default: from the size, at least 3m)")
	fs.IntVar(&o.natRuns, "nat-runs", 7, "runs of swarmscope nat (median reported)")
	fs.IntVar(&o.memPeers, "mem-peers", 1000, "peers connected to the engine for the memory measurement")
	fs.StringVar(&o.benchtime, "benchtime", "1s", "go test -benchtime for the View benchmark")
	fs.BoolVar(&o.inNetns, "in-netns", false, "internal: run inside a new network namespace")
	fs.BoolVar(&o.noNetns, "no-netns", false, "download on the host's loopback even as root (transmission-cli is then skipped)")
	fs.StringVar(&o.skipped, "skipped", "", "internal: contenders the parent skipped, with reasons")
	fs.BoolVar(&o.smoke, "smoke", false, "tiny run for CI: 4 MiB, 3 files, 2 seeders, 1 round, 2 nat runs, 50 peers, -benchtime 3x")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./engine/benchtest/cmd/bench [flags]\n\nSide-by-side benchmark of swarmscope and other BitTorrent clients on loopback.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.smoke {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("size", func() { *size = "4MiB" })
		def("files", func() { o.files = 3 })
		def("seeder-count", func() { o.seeders = 2 })
		def("rounds", func() { o.rounds = 1 })
		def("nat-runs", func() { o.natRuns = 2 })
		def("mem-peers", func() { o.memPeers = 50 })
		def("benchtime", func() { o.benchtime = "3x" })
	}
	var err error
	if o.size, err = parseSize(*size); err != nil {
		return o, fmt.Errorf("-size: %w", err)
	}
	if *piece == "auto" {
		o.pieceLen = 256 << 10
		if o.size >= 512<<20 {
			o.pieceLen = 1 << 20
		}
	} else if o.pieceLen, err = parseSize(*piece); err != nil || o.pieceLen < 16<<10 || o.pieceLen&(o.pieceLen-1) != 0 {
		return o, fmt.Errorf("-piece %q: want a power of two of at least 16KiB", *piece)
	}
	switch {
	case o.size < 1<<10:
		return o, fmt.Errorf("-size %d: at least 1KiB", o.size)
	case o.files < 1 || int64(o.files) > o.size:
		return o, fmt.Errorf("-files %d: between 1 and the size in bytes", o.files)
	case o.seeders < 1 || o.seeders > 88:
		return o, fmt.Errorf("-seeder-count %d: between 1 and 88", o.seeders)
	case o.seederKind != "swarmscope" && o.seederKind != "aria2c":
		return o, fmt.Errorf("-seeders %q: swarmscope or aria2c", o.seederKind)
	case o.leecherPort < 1 || o.leecherPort > 65535:
		return o, fmt.Errorf("-port %d: between 1 and 65535", o.leecherPort)
	case o.rounds < 1:
		return o, fmt.Errorf("-rounds %d: at least 1", o.rounds)
	case o.natRuns < 1:
		return o, fmt.Errorf("-nat-runs %d: at least 1", o.natRuns)
	case o.memPeers < 1 || o.memPeers > 60000:
		return o, fmt.Errorf("-mem-peers %d: between 1 and 60000", o.memPeers)
	case o.timeout < 0:
		return o, fmt.Errorf("-timeout %s: negative", o.timeout)
	}
	if o.timeout == 0 {
		// 5 MiB/s is far below any contender here; it only bounds a hang.
		o.timeout = max(3*time.Minute, time.Duration(o.size/(5<<20))*time.Second)
	}
	for _, c := range splitList(*contenders) {
		if !contains(allContenders, c) {
			return o, fmt.Errorf("-contenders: unknown %q (want %s)", c, strings.Join(allContenders, ","))
		}
		o.contenders = append(o.contenders, c)
	}
	o.sections = map[string]bool{}
	for _, s := range splitList(*sections) {
		if !contains([]string{"download", "nat", "view", "mem"}, s) {
			return o, fmt.Errorf("-sections: unknown %q (want download,nat,view,mem)", s)
		}
		o.sections[s] = true
	}
	if len(o.sections) == 0 {
		return o, errors.New("-sections: nothing to do")
	}
	if o.sections["download"] && len(o.contenders) == 0 {
		return o, errors.New("-contenders: none given")
	}
	o.strict = os.Getenv("SWARMSCOPE_LAB") == "1"
	if o.work != "" {
		if o.work, err = filepath.Abs(o.work); err != nil {
			return o, err
		}
	}
	return o, nil
}

func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size like 64MiB", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func contains[T comparable](list []T, x T) bool { return slices.Contains(list, x) }
