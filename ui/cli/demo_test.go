package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestDemoFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--nat", "cgnat"}, {"--upnp", "maybe"}, {"--peers", "-1"}, {"--peers", "99"},
		{"--size", "lots"}, {"--size", "1KiB"}, {"--size", "5GiB"}, {"--size", "3XB"}, {"extra"}, {"--bogus"},
	} {
		var out, errb bytes.Buffer
		code := runDemo(context.Background(), args, &out, &errb)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, ExitUsage)
		}
		if lines := strings.Count(strings.TrimSpace(errb.String()), "\n"); lines != 0 || errb.Len() == 0 {
			t.Errorf("%v: want one error line, got %q", args, errb.String())
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"65536": 65536, "64KiB": 64 << 10, "16M": 16 << 20, "2 GiB": 2 << 30, "1mb": 1 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestDemoHeadlessCompletesAndVerifies(t *testing.T) {
	var out, errb bytes.Buffer
	code := runDemo(context.Background(), []string{"--headless", "--size", "2MiB", "--peers", "2", "--seed", "7"}, &out, &errb)
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"you behind port-restricted-cone, UPnP on", "complete in", "bytes by path:", "verified: your copy matches"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestDemoJSON(t *testing.T) {
	var out, errb bytes.Buffer
	code := runDemo(context.Background(), []string{"--json", "--nat", "symmetric", "--upnp", "off", "--size", "1MiB", "--peers", "1", "--seed", "8"}, &out, &errb)
	if code != ExitOK {
		t.Fatalf("exit %d\nstderr:\n%s", code, errb.String())
	}
	var first, last map[string]any
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		if first == nil {
			first = m
		}
		last = m
	}
	if first["type"] != "demo" || first["nat"] != "symmetric" {
		t.Errorf("first line %v", first)
	}
	if last["type"] != "summary" || last["complete"] != true {
		t.Errorf("last line %v", last)
	}
}
