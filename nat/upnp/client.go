package upnp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	pt "github.com/swarmscope/swarmscope/nat/portmap/portmaptype"
)

// ProbeConfig configures the UPnP prober.
type ProbeConfig struct {
	Source Source // required: SSDP(…) or DeviceURL(…)
	// OpTimeout bounds each SOAP call (default 3 s).
	OpTimeout time.Duration
	// Description is what the gateway's table shows (default "swarmscope").
	Description string
}

// Prober finds a UPnP IGD, picks its best WAN connection service and
// returns a client mapping ports on it.
func Prober(cfg ProbeConfig) pt.Prober {
	if cfg.OpTimeout == 0 {
		cfg.OpTimeout = 3 * time.Second
	}
	if cfg.Description == "" {
		cfg.Description = "swarmscope"
	}
	return prober{cfg}
}

type prober struct{ cfg ProbeConfig }

func (prober) Protocol() pt.Protocol { return pt.UPnP }

func (p prober) Probe(ctx context.Context) (pt.Client, error) {
	if p.cfg.Source == nil {
		return nil, errors.New("no discovery source")
	}
	roots, err := p.cfg.Source(ctx)
	if err != nil {
		return nil, fmt.Errorf("discover gateway: %w", err)
	}
	cands := candidates(roots)
	if len(cands) == 0 {
		return nil, errors.New("no UPnP gateway with a WAN connection service found")
	}
	best := pick(ctx, cands, p.cfg.OpTimeout)
	local := ""
	if best.local != nil {
		local = best.local.String()
	} else if ip, err := localIPToward(best.loc.Host); err == nil {
		local = ip
	}
	return &client{cfg: p.cfg, c: best, local: local}, nil
}

// client maps ports through one WAN connection service.
type client struct {
	cfg   ProbeConfig
	c     *candidate
	local string
}

func (c *client) Gateway() pt.Gateway {
	return pt.Gateway{Protocol: pt.UPnP, Address: c.c.loc.Host, Device: c.c.device, Service: c.c.service, ExternalIP: c.c.extIP, LocalIP: c.local}
}

// Map adds the mapping, retrying as permanent when the gateway only
// supports permanent leases (error 725).
func (c *client) Map(ctx context.Context, proto, internalIP string, port int, lease time.Duration) (pt.Mapping, error) {
	if internalIP == "" {
		internalIP = c.local
	}
	if internalIP == "" {
		return pt.Mapping{}, errors.New("upnp: our address toward the gateway is unknown")
	}
	try := func(lease time.Duration) error {
		return c.c.conn.AddPortMappingCtx(ctx, "", uint16(port), proto, uint16(port), internalIP, true, c.cfg.Description, uint32(lease/time.Second))
	}
	err := try(lease)
	if err != nil && lease != 0 && SOAPCode(err) == CodeOnlyPermanentLease {
		lease = 0
		err = try(0)
	}
	if err != nil {
		return pt.Mapping{}, wrap(err)
	}
	return pt.Mapping{Protocol: pt.UPnP, Proto: proto, ExternalIP: c.c.extIP, ExternalPort: port, InternalIP: internalIP, InternalPort: port, Lease: lease, Renewed: time.Now()}, nil
}

func (c *client) Unmap(ctx context.Context, m pt.Mapping) error {
	if err := c.c.conn.DeletePortMappingCtx(ctx, "", uint16(m.ExternalPort), m.Proto); err != nil {
		return wrap(err)
	}
	return nil
}

func (c *client) Close() error { return nil }

// wrap turns a SOAP fault into a pt.Error carrying its UPnP code, with the
// conflict explained.
func wrap(err error) error {
	code := SOAPCode(err)
	text := describeErr(err)
	if code == CodeConflict {
		text += " (the port is already mapped to another host)"
	}
	return &pt.Error{Protocol: pt.UPnP, Code: code, Text: text, Err: err}
}

// pick prefers a connected service with a public external IP, then any
// connected one, then the first.
func pick(ctx context.Context, cands []*candidate, timeout time.Duration) *candidate {
	var wg sync.WaitGroup
	for _, c := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			octx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			status, _, _, err := c.conn.GetStatusInfoCtx(octx)
			if err == nil && status == "Connected" {
				c.score += 2
			}
			ip, err := c.conn.GetExternalIPAddressCtx(octx)
			if parsed := net.ParseIP(ip); err == nil && parsed != nil && !parsed.IsUnspecified() {
				c.extIP = parsed.String()
				c.score++
				if !isPrivate(parsed) {
					c.score++
				}
			}
		}()
	}
	wg.Wait()
	best := cands[0]
	for _, c := range cands[1:] {
		if c.score > best.score {
			best = c
		}
	}
	return best
}

func localIPToward(host string) (string, error) {
	h, p, err := net.SplitHostPort(host)
	if err != nil {
		h, p = host, "80"
	}
	if _, err := strconv.Atoi(p); err != nil {
		p = "80"
	}
	c, err := net.Dial("udp4", net.JoinHostPort(h, p))
	if err != nil {
		return "", err
	}
	defer c.Close()
	ua, ok := c.LocalAddr().(*net.UDPAddr)
	if !ok {
		return "", errors.New("no local UDP address")
	}
	return ua.IP.String(), nil
}

func isPrivate(ip net.IP) bool {
	if ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return true
	}
	_, cg, _ := net.ParseCIDR("100.64.0.0/10")
	return cg.Contains(ip)
}
