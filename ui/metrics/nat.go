package metrics

import (
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/swarmscope/swarmscope/nat"
)

var (
	descNATType      = desc("nat_type_info", "The NAT type the last diagnosis measured (always 1; absent while unmeasured).", "type")
	descNATMapping   = desc("nat_mapping_behavior_info", "The RFC 4787 mapping behaviour the last diagnosis measured (always 1; absent while unmeasured).", "behavior")
	descNATFiltering = desc("nat_filtering_behavior_info", "The RFC 4787 filtering behaviour the last diagnosis measured (always 1; absent while unmeasured).", "behavior")
	descNATVerdict   = desc("nat_reachability_info", "Whether peers can reach us, as the last diagnosis concluded (always 1; absent while unknown).", "verdict")
	descNATFlag      = desc("nat_flag", "Yes/no facts of the last diagnosis, 1 or 0; a fact that was not measured is absent.", "flag")
	descNATTime      = desc("nat_last_measurement_timestamp_seconds", "When the last NAT diagnosis that measured something ran (Unix time).")
	descNATChanges   = desc("nat_public_address_changes_total", "Times the measured public IP address differed from the one measured before (absent until one was measured).")
	descNATChecks    = desc("nat_checks_total", "NAT diagnoses run, by result: measured (a STUN answer or a port mapping) or failed (nothing measured).", "result")
)

// natCollector exports the newest NAT report that measured something.
type natCollector struct {
	mu       sync.Mutex
	report   *nat.Report
	publicIP netip.Addr // last measured, to count changes
	changes  int
	checks   map[string]int // by result; nil until a check ran
}

func (c *natCollector) observe(r nat.Report, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.checks == nil {
		c.checks = map[string]int{"measured": 0, "failed": 0}
	}
	if err != nil || !r.Measured() {
		c.checks["failed"]++
		return
	}
	c.checks["measured"]++
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	c.report = &r
	// The IP, not the port: with a fresh probe socket the port may change
	// on every check without anything changing for peers.
	if ap, perr := netip.ParseAddrPort(r.PublicAddr); perr == nil {
		ip := ap.Addr().Unmap()
		if c.publicIP.IsValid() && ip != c.publicIP {
			c.changes++
		}
		c.publicIP = ip
	}
}

func (c *natCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNATType, descNATMapping, descNATFiltering, descNATVerdict, descNATFlag, descNATTime, descNATChanges, descNATChecks} {
		ch <- d
	}
}

func (c *natCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for res, n := range c.checks {
		ch <- prometheus.MustNewConstMetric(descNATChecks, prometheus.CounterValue, float64(n), res)
	}
	if c.publicIP.IsValid() {
		ch <- prometheus.MustNewConstMetric(descNATChanges, prometheus.CounterValue, float64(c.changes))
	}
	r := c.report
	if r == nil {
		return
	}
	info := func(d *prometheus.Desc, v string, unknown ...string) {
		if v == "" {
			return
		}
		for _, u := range unknown {
			if v == u {
				return
			}
		}
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, 1, v)
	}
	info(descNATType, string(r.NATType), string(nat.TypeUnknown))
	info(descNATMapping, string(r.Mapping), string(nat.BehaviorUnknown))
	info(descNATFiltering, string(r.Filtering), string(nat.BehaviorUnknown))
	info(descNATVerdict, string(r.Reachable.Verdict), string(nat.VerdictUnknown))
	for _, f := range []struct {
		name string
		v    *bool
	}{{"behind_nat", r.BehindNAT}, {"double_nat", r.DoubleNAT}, {"cgnat", r.CGNAT}, {"hairpin", r.Hairpin}, {"port_preserved", r.PortPreserved}} {
		if f.v != nil {
			ch <- prometheus.MustNewConstMetric(descNATFlag, prometheus.GaugeValue, boolValue(*f.v), f.name)
		}
	}
	ch <- prometheus.MustNewConstMetric(descNATTime, prometheus.GaugeValue, float64(r.Time.UnixNano())/1e9)
}
