package cli

import (
	"flag"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/swarmscope/swarmscope/nat"
	"github.com/swarmscope/swarmscope/nat/portmap/pmp"
	"github.com/swarmscope/swarmscope/nat/portmap/portmaptype"
	"github.com/swarmscope/swarmscope/nat/upnp"
)

// portmapFlags are the port-mapping flags `swarmscope` and `swarmscope nat`
// share: which protocols, and where the gateway is.
type portmapFlags struct {
	noUPnP  bool
	upnpURL string
	list    string
	gateway string
}

func (p *portmapFlags) register(fs *flag.FlagSet, noUPnPHelp string) {
	fs.BoolVar(&p.noUPnP, "no-upnp", false, noUPnPHelp)
	fs.StringVar(&p.upnpURL, "upnp-url", "", "gateway description `URL` to use instead of SSDP discovery")
	fs.StringVar(&p.list, "portmap", "upnp,pcp,nat-pmp", "port-mapping protocols to try at once, `list` of upnp, pcp, nat-pmp (\"none\" = as --no-upnp)")
	fs.StringVar(&p.gateway, "gateway", "", "PCP/NAT-PMP gateway `IP` (default: the --upnp-url host, else the default route)")
}

// apply sets the mapping fields of o; an error is a usage error.
func (p *portmapFlags) apply(o *nat.Options) error {
	want := map[string]bool{}
	for _, f := range strings.Split(p.list, ",") {
		switch f = strings.ToLower(strings.TrimSpace(f)); f {
		case "upnp", "pcp", "nat-pmp", "none":
			want[f] = true
		case "":
		default:
			return fmt.Errorf("--portmap: unknown protocol %q (want upnp, pcp, nat-pmp or none)", f)
		}
	}
	o.NoUPnP = p.noUPnP || want["none"] || len(want) == 0
	o.MapWith = []portmaptype.Protocol{}
	for _, pr := range []portmaptype.Protocol{portmaptype.UPnP, portmaptype.PCP, portmaptype.NATPMP} {
		if want[string(pr)] {
			o.MapWith = append(o.MapWith, pr)
		}
	}
	var cfg pmp.Config
	if p.upnpURL != "" {
		u, err := url.Parse(p.upnpURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			return fmt.Errorf("--upnp-url: want an http:// URL of the gateway's description, not %q", p.upnpURL)
		}
		o.UPnPSource = upnp.DeviceURL(p.upnpURL)
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
			cfg.Gateway = ip
		}
	}
	if p.gateway != "" {
		ip, err := netip.ParseAddr(p.gateway)
		if err != nil || !ip.Unmap().Is4() {
			return fmt.Errorf("--gateway: want an IPv4 address, not %q", p.gateway)
		}
		cfg.Gateway = ip.Unmap()
	}
	o.PMP = &cfg
	return nil
}
