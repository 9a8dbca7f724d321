package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/swarmscope/swarmscope/nat/stunserver"
	"github.com/swarmscope/swarmscope/nat/upnp/upnptest"
)

func natServer(t *testing.T) string {
	t.Helper()
	conns, err := stunserver.ListenUDP("127.0.0.1", "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- stunserver.New(conns).Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return conns[0][0].LocalAddr().String()
}

func TestNatJSON(t *testing.T) {
	srv := natServer(t)
	var out, errb bytes.Buffer
	code := runNat(context.Background(), []string{"--stun", srv, "--no-upnp", "--json", "--timeout", "20s"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	for _, k := range []string{"local_addr", "public_addr", "mapping", "filtering", "nat_type", "port_preserved", "hairpin", "servers", "upnp", "double_nat", "reachable", "duration_ms"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %q", k)
		}
	}
	// Loopback is never "public": the verdict is unknown.
	if m["nat_type"] != "open" || m["reachable"].(map[string]any)["verdict"] != "unknown" {
		t.Fatalf("%s", out.String())
	}
	srvs := m["servers"].([]any)
	s0 := srvs[0].(map[string]any)
	if s0["rfc5780"] != true || s0["address"] != srv || s0["mapped_addr"] == "" {
		t.Fatalf("%v", s0)
	}
	up := m["upnp"].(map[string]any)
	if up["found"] != false || up["mappings"] == nil {
		t.Fatalf("%v", up)
	}
}

func TestNatHuman(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	srv := natServer(t)
	var out, errb bytes.Buffer
	if code := runNat(context.Background(), []string{"--stun", srv, "--no-upnp", "--port", "0", "--timeout", "20s"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	s := out.String()
	for _, want := range []string{"Verdict", "loopback", "Addresses", "Behaviour", "STUN servers", srv, "rfc5780", "UPnP", "endpoint-independent"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in\n%s", want, s)
		}
	}
	if strings.Contains(s, "\x1b[") {
		t.Errorf("colour escapes despite NO_COLOR / non-terminal:\n%q", s)
	}
}

func TestNatFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--help"}, 0},
		{[]string{"--bogus"}, 2},
		{[]string{"--stun", ""}, 2},
		{[]string{"--stun", "nohostport"}, 2},
		{[]string{"--port", "70000"}, 2},
		{[]string{"--timeout", "-1s"}, 2},
		{[]string{"extra"}, 2},
	} {
		var out, errb bytes.Buffer
		if code := runNat(context.Background(), tc.args, &out, &errb); code != tc.code {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, code, tc.code, errb.String())
		}
		if tc.code == 2 && (errb.Len() == 0 || strings.Count(strings.TrimSpace(errb.String()), "\n") > 40) {
			t.Errorf("%v: stderr %q", tc.args, errb.String())
		}
		if tc.code == 0 && !strings.Contains(out.String(), "--stun") && !strings.Contains(out.String(), "-stun") {
			t.Errorf("help: %q", out.String())
		}
	}
}

func TestNatUPnPMappingRemoved(t *testing.T) {
	srv := natServer(t)
	for _, keep := range []bool{false, true} {
		igd := upnptest.New("WANIPConnection:1")
		defer igd.Close()
		args := []string{"--stun", srv, "--upnp-url", igd.URL(), "--json", "--timeout", "20s"}
		if keep {
			args = append(args, "--keep-mapping")
		}
		var out, errb bytes.Buffer
		if code := runNat(context.Background(), args, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		var rep struct {
			UPnP struct {
				Found    bool
				Mappings []struct {
					Proto        string `json:"proto"`
					ExternalPort int    `json:"external_port"`
				}
			} `json:"upnp"`
			ProbedPort int `json:"probed_port"`
		}
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		if !rep.UPnP.Found || len(rep.UPnP.Mappings) != 2 || rep.UPnP.Mappings[0].ExternalPort != rep.ProbedPort {
			t.Fatalf("%s", out.String())
		}
		if got := len(igd.Mappings()); keep != (got == 2) || !keep && got != 0 {
			t.Fatalf("keep=%v: gateway holds %v", keep, igd.Mappings())
		}
	}
}

// Interrupting the check (SIGINT/SIGTERM cancel the context) still removes
// the mapping it made.
func TestNatInterruptRemovesMapping(t *testing.T) {
	igd := upnptest.New("WANIPConnection:1")
	defer igd.Close()
	// A server that never answers keeps the check running.
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(igd.Mappings()) < 2 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	var out, errb bytes.Buffer
	if code := runNat(ctx, []string{"--stun", dead.LocalAddr().String(), "--upnp-url", igd.URL(), "--timeout", "60s"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "interrupted") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if got := igd.Mappings(); len(got) != 0 {
		t.Fatalf("mapping left behind after interrupt: %v", got)
	}
	calls := strings.Join(igd.Calls(), ",")
	if !strings.Contains(calls, "DeletePortMapping") {
		t.Fatalf("calls %s", calls)
	}
}

// Colour is on when forced and off when NO_COLOR says so, even if forced.
func TestNatColour(t *testing.T) {
	srv := natServer(t)
	run := func() string {
		var out, errb bytes.Buffer
		if code := runNat(context.Background(), []string{"--stun", srv, "--no-upnp", "--timeout", "20s"}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		return out.String()
	}
	t.Setenv("CLICOLOR_FORCE", "1")
	t.Setenv("NO_COLOR", "")
	if s := run(); !strings.Contains(s, "\x1b[") {
		t.Fatalf("no colour when forced:\n%s", s)
	}
	t.Setenv("NO_COLOR", "1")
	if s := run(); strings.Contains(s, "\x1b[") {
		t.Fatalf("colour despite NO_COLOR:\n%q", s)
	}
}

// Nothing measured (a server that only sends malformed replies): the
// report is printed, the flags are null, and the exit status is 1.
func TestNatNothingMeasuredExit1(t *testing.T) {
	conns, err := stunserver.ListenUDP("127.0.0.1", "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- stunserver.New(conns, stunserver.Malformed()).Serve(ctx) }()
	defer func() { cancel(); <-done }()
	var out, errb bytes.Buffer
	code := runNat(context.Background(), []string{"--stun", conns[0][0].LocalAddr().String(), "--no-upnp", "--json", "--timeout", "2s"}, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), `"behind_nat": null`) || !strings.Contains(out.String(), `"malformed"`) {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
}
