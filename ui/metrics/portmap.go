package metrics

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PortMapping is one port mapping held on a gateway, as a mapper reports
// it at scrape time.
type PortMapping struct {
	Protocol     string        // what made it: "upnp", "nat-pmp", "pcp"
	Transport    string        // "tcp" or "udp"
	ExternalPort int           //
	Lease        time.Duration // granted; 0 = permanent
	Remaining    time.Duration // left now (meaningless for a permanent one)
}

// PortMapper is one port-mapping client, which may try several
// protocols (UPnP, PCP, NAT-PMP) for several transports.
type PortMapper struct {
	// Protocols are what it tries ("upnp", "pcp", "nat-pmp") and
	// Transports what it maps ("tcp", "udp"): each pair gets an active
	// series, 0 while no such mapping is held.
	Protocols  []string
	Transports []string
	// Mappings returns the mappings held now.
	Mappings func() []PortMapping
	// CountsEvents says the caller feeds PortMappingEvent; only then do
	// the renewal and failure counters exist (a count nobody feeds would
	// be a zero that is not measured).
	CountsEvents bool
}

// Port-mapping event kinds that are counted.
const (
	MappingRenewed = "renewed"
	MappingFailed  = "failed"
)

var (
	descMapActive    = desc("port_mapping_active", "1 while a mapping of the listen port is held on the gateway, by mapping protocol and transport; 0 while it is not.", "protocol", "transport")
	descMapPort      = desc("port_mapping_external_port", "External port of a held mapping.", "protocol", "transport")
	descMapLease     = desc("port_mapping_lease_seconds", "Lease the gateway granted for a held mapping; 0 = permanent.", "protocol", "transport")
	descMapRemaining = desc("port_mapping_lease_remaining_seconds", "Lease left on a held mapping (absent for permanent ones).", "protocol", "transport")
	descMapRenewals  = desc("port_mapping_renewals_total", "Mapping renewals the gateway accepted.", "protocol")
	descMapFailures  = desc("port_mapping_failures_total", "Failed port-mapping operations: discovery, mapping, renewal or removal.", "protocol")
)

type portMapCollector struct {
	mu      sync.Mutex
	mappers []PortMapper
	counts  map[string]*mapCounts // by protocol
}

type mapCounts struct{ renewals, failures int }

func newPortMapCollector() *portMapCollector {
	return &portMapCollector{counts: map[string]*mapCounts{}}
}

// AddPortMapper exports a mapper's state from now on.
func (x *Exporter) AddPortMapper(m PortMapper) {
	if x == nil {
		return
	}
	c := x.pm
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mappers = append(c.mappers, m)
	if m.CountsEvents {
		for _, p := range m.Protocols {
			if c.counts[p] == nil {
				c.counts[p] = &mapCounts{}
			}
		}
	}
}

// PortMappingEvent counts a mapper's renewal or failure (other kinds are
// ignored).
func (x *Exporter) PortMappingEvent(protocol, kind string) {
	if x == nil {
		return
	}
	c := x.pm
	c.mu.Lock()
	defer c.mu.Unlock()
	mc := c.counts[protocol]
	if mc == nil {
		return // not a registered, counting mapper: bounded labels
	}
	switch kind {
	case MappingRenewed:
		mc.renewals++
	case MappingFailed:
		mc.failures++
	}
}

func (c *portMapCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMapActive, descMapPort, descMapLease, descMapRemaining, descMapRenewals, descMapFailures} {
		ch <- d
	}
}

func (c *portMapCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	mappers := append([]PortMapper(nil), c.mappers...)
	for proto, mc := range c.counts {
		ch <- prometheus.MustNewConstMetric(descMapRenewals, prometheus.CounterValue, float64(mc.renewals), proto)
		ch <- prometheus.MustNewConstMetric(descMapFailures, prometheus.CounterValue, float64(mc.failures), proto)
	}
	c.mu.Unlock()
	type pt struct{ protocol, transport string }
	held := map[pt]bool{}
	for _, m := range mappers {
		if m.Mappings != nil {
			for _, mp := range m.Mappings() {
				k := pt{strings.ToLower(mp.Protocol), strings.ToLower(mp.Transport)}
				if held[k] || !slices.Contains(m.Protocols, k.protocol) {
					continue // one series per pair; labels only from the list
				}
				held[k] = true
				ch <- prometheus.MustNewConstMetric(descMapActive, prometheus.GaugeValue, 1, k.protocol, k.transport)
				ch <- prometheus.MustNewConstMetric(descMapPort, prometheus.GaugeValue, float64(mp.ExternalPort), k.protocol, k.transport)
				ch <- prometheus.MustNewConstMetric(descMapLease, prometheus.GaugeValue, mp.Lease.Seconds(), k.protocol, k.transport)
				if mp.Lease > 0 {
					ch <- prometheus.MustNewConstMetric(descMapRemaining, prometheus.GaugeValue, mp.Remaining.Seconds(), k.protocol, k.transport)
				}
			}
		}
		for _, p := range m.Protocols {
			for _, tr := range m.Transports {
				k := pt{p, strings.ToLower(tr)}
				if !held[k] {
					held[k] = true
					ch <- prometheus.MustNewConstMetric(descMapActive, prometheus.GaugeValue, 0, k.protocol, k.transport)
				}
			}
		}
	}
}
