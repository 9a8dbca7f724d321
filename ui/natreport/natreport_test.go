package natreport

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/styles"
)

func plainTheme() *styles.Theme {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	return styles.New(r)
}

func colourTheme() *styles.Theme {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.TrueColor)
	r.SetHasDarkBackground(true)
	return styles.New(r)
}

func report() nat.Report {
	yes, no := true, false
	return nat.Report{
		LocalAddr: "192.168.1.23:42069", PublicAddr: "203.0.113.5:42069", BehindNAT: &yes,
		Mapping: nat.BehaviorEndpointIndependent, Filtering: nat.BehaviorAddressAndPortDependent,
		NATType: nat.TypePortRestrictedCone, PortPreserved: &yes, Hairpin: &no,
		Servers: []nat.ServerResult{{Address: "stun.example:3478", RTTms: 12.5, MappedAddr: "203.0.113.5:42069"}},
		UPnP: nat.UPnPReport{Found: true, Device: "FRITZ!Box", ExternalIP: "203.0.113.5",
			Mappings: []nat.Mapping{{Proto: "UDP", ExternalPort: 42069, Internal: "192.168.1.23:42069", LeaseS: 3600}}},
		Reachable: nat.Reachability{Verdict: nat.VerdictUPnP, Advice: "peers can dial you through the mapping"},
	}
}

func TestBadges(t *testing.T) {
	th := plainTheme()
	if got := Badge(th, nat.TypeSymmetric); !strings.Contains(got, "NAT symmetric") {
		t.Errorf("badge %q", got)
	}
	if got := Badge(th, ""); !strings.Contains(got, "unknown") {
		t.Errorf("empty type badge %q", got)
	}
	if got := UPnPBadge(th, report().UPnP); !strings.Contains(got, "UPnP 203.0.113.5:42069") {
		t.Errorf("upnp badge %q", got)
	}
}

// The pane and the printer are one renderer: the same fact has the same
// words and the same colour in both.
func TestCompactAndFullAgree(t *testing.T) {
	for _, th := range []*styles.Theme{plainTheme(), colourTheme()} {
		compact := strings.Join(Lines(th, report(), Compact, 60), "\n")
		full := strings.Join(Lines(th, report(), Full, 80), "\n")
		for _, want := range []string{
			"lease 1h00m",
			th.Good.Render("endpoint-independent"),
			th.Warn.Render("address-and-port-dependent"),
			th.Level(0).Render("yes"),
			th.Level(1).Render("no"),
			th.Level(0).Render("UPnP mapped"),
		} {
			if !strings.Contains(compact, want) || !strings.Contains(full, want) {
				t.Errorf("%q not in both:\ncompact:\n%s\nfull:\n%s", want, compact, full)
			}
		}
		if strings.Contains(full, "3600 s") {
			t.Errorf("lease in seconds:\n%s", full)
		}
	}
}

func TestUnmeasuredIsUnknown(t *testing.T) {
	out := strings.Join(Lines(plainTheme(), nat.Report{}, Full, 80), "\n")
	for _, label := range []string{"Behind NAT", "Mapping", "Hairpinning", "NAT type"} {
		if want := fmt.Sprintf("%-*sunknown", labelW, label); !strings.Contains(out, want) {
			t.Errorf("%q missing:\n%s", want, out)
		}
	}
	if strings.Contains(out, " no\n") {
		t.Errorf("an unmeasured fact says no:\n%s", out)
	}
}

func TestHostileStringsAreCleaned(t *testing.T) {
	r := report()
	evil := "evil\x1b]0;pwned\x07\x1b[2J\u009b31m\u202eexe"
	r.UPnP.Device, r.UPnP.Error, r.Servers[0].Address, r.Notes = evil, evil, evil, []string{evil}
	r.Servers = append(r.Servers, nat.ServerResult{Address: "x:1", Error: evil})
	for _, mode := range []Mode{Compact, Full} {
		for i, l := range Lines(plainTheme(), r, mode, 80) {
			for _, c := range l {
				if c < 0x20 || c >= 0x7f && c < 0xa0 || c == '\u202e' {
					t.Fatalf("mode %d line %d: raw control %q", mode, i, l)
				}
			}
		}
	}
}
