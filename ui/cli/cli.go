// Package cli is swarmscope's command line: flag parsing, the download
// command (TUI or headless), and the nat and demo subcommands. main.go only
// calls Main.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3";
// otherwise it comes from the module's build info.
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

const topUsage = `swarmscope: a BitTorrent client that shows how every peer reached you.

Usage:
  swarmscope [flags] SOURCE...   download magnet URIs, .torrent files or 40-hex info hashes
  swarmscope nat [flags]         diagnose your NAT (STUN, UPnP) and say if peers can reach you
  swarmscope demo [flags]        watch NAT traversal live on a simulated internet (no network needed)
  swarmscope --version

Run 'swarmscope COMMAND --help' for a command's flags; 'swarmscope --help' lists the download flags.
`

// Main runs swarmscope with args (without the program name) and returns the
// process exit code. SIGINT and SIGTERM cancel the run cleanly: UPnP
// mappings are removed and verified data stays on disk.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, stdout, stderr)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		// Whatever a bug does, the user gets one line, not a stack trace.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "swarmscope: internal error: %v\n", r)
			code = ExitFailure
		}
	}()
	if len(args) > 0 {
		switch args[0] {
		case "nat":
			return runNat(ctx, args[1:], stdout, stderr)
		case "demo":
			return runDemo(ctx, args[1:], stdout, stderr)
		case "version", "--version", "-version", "-v":
			fmt.Fprintf(stdout, "swarmscope %s\n", version())
			return ExitOK
		case "help":
			fmt.Fprint(stdout, topUsage)
			return ExitOK
		}
	}
	return runDownload(ctx, args, stdout, stderr)
}

// usageError is an error the user made; it exits with ExitUsage.
type usageError struct{ error }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	return ExitFailure
}

// parseFlags parses args into fs. A mistake costs the user one line on
// stderr (exit 2); --help prints the full usage on stdout (exit 0). done is
// false when the command should go on.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, done bool) {
	return parseFlagsWith(fs, fs.Parse, args, stdout, stderr)
}

// parseFlagsAnywhere is parseFlags for a command with operands: flags may
// come after them too, as Unix users expect ("swarmscope x.torrent --seed");
// "--" ends the flags. The operands are returned in their order.
func parseFlagsAnywhere(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (operands []string, code int, done bool) {
	parse := func(args []string) error {
		for {
			if err := fs.Parse(args); err != nil {
				return err
			}
			rest := fs.Args()
			if len(rest) == 0 {
				return nil
			}
			if i := len(args) - len(rest); i > 0 && args[i-1] == "--" {
				operands = append(operands, rest...)
				return nil
			}
			operands = append(operands, rest[0])
			args = rest[1:]
		}
	}
	code, done = parseFlagsWith(fs, parse, args, stdout, stderr)
	return operands, code, done
}

func parseFlagsWith(fs *flag.FlagSet, parse func([]string) error, args []string, stdout, stderr io.Writer) (code int, done bool) {
	fs.SetOutput(io.Discard)
	err := parse(args)
	switch {
	case err == nil:
		fs.SetOutput(stderr)
		return ExitOK, false
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return ExitOK, true
	}
	fmt.Fprintf(stderr, "%s: %v (see '%s --help')\n", fs.Name(), err, fs.Name())
	return ExitUsage, true
}
