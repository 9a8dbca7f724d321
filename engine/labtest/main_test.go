package labtest

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var long = flag.Bool("long", false, "run the bigger lab variants (also SWARMSCOPE_LAB_LONG=1)")

// binary is the swarmscope built for this run, or "" with binErr saying why
// there is none. Set once by TestMain before any test runs.
var (
	binary string
	binErr error
	// helpText is the usage of the binary and its nat command, to tell
	// which features this build has.
	helpText string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv("SWARMSCOPE_LAB_LONG") == "1" {
		*long = true
	}
	dir, err := os.MkdirTemp("", "swarmscope-labtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "labtest:", err)
		os.Exit(1)
	}
	// Lab daemons that drop privileges must be able to read test files.
	_ = os.Chmod(dir, 0o755)
	if b := os.Getenv("SWARMSCOPE_LAB_BINARY"); b != "" {
		// A prebuilt binary, e.g. a release candidate.
		binary = b
	} else {
		binary, binErr = build(dir)
	}
	if binErr == nil {
		helpText = help(binary)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles the module's main package into dir.
func build(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	if _, err := os.Stat(filepath.Join(root, "main.go")); err != nil {
		return "", fmt.Errorf("the swarmscope command does not exist yet (no main.go)")
	}
	bin := filepath.Join(dir, "swarmscope")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, b)
	}
	return bin, nil
}

func help(bin string) string {
	var b strings.Builder
	for _, args := range [][]string{{"--help"}, {"nat", "--help"}} {
		out, _ := exec.Command(bin, args...).CombinedOutput()
		b.Write(out)
	}
	return b.String()
}

// needBinary skips the test when there is no swarmscope to test. A build
// that fails is a failure: the command exists but is broken.
func needBinary(t *testing.T) {
	t.Helper()
	if binErr != nil {
		if strings.HasPrefix(binErr.Error(), "go build") {
			t.Fatalf("swarmscope does not build: %v", binErr)
		}
		t.Skipf("missing feature: %v", binErr)
	}
}

// needFeature skips the test, naming the missing feature, when the binary's
// usage does not mention flag.
func needFeature(t *testing.T, flag, feature string) {
	t.Helper()
	needBinary(t)
	if !strings.Contains(helpText, flag) {
		t.Skipf("missing feature: %s (swarmscope --help does not mention %s)", feature, flag)
	}
}

// size is the torrent size for a scenario: small in CI, bigger with -long.
func size(small int64) int64 {
	if *long {
		return small * 16
	}
	return small
}
