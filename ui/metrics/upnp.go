package metrics

import (
	"time"

	"github.com/swarmscope/swarmscope/nat/portmap"
	"github.com/swarmscope/swarmscope/nat/portmap/portmaptype"
)

// UPnP describes a nat/upnp mapper for AddPortMapper: transports are the
// protocols it was configured to map ("tcp", "udp"); countsEvents says its
// OnEvent feeds UPnPEvent.
func UPnP(m *portmap.Mapper, transports []string, countsEvents bool) PortMapper {
	return PortMapper{
		Protocols:  []string{"upnp", "pcp", "nat-pmp"},
		Transports: transports,
		Mappings: func() []PortMapping {
			now := time.Now()
			var out []PortMapping
			for _, mp := range m.Mappings() {
				if mp.Lease > 0 && mp.Remaining(now) <= 0 {
					continue // lapsed: the gateway no longer forwards it
				}
				out = append(out, PortMapping{Protocol: string(mp.Protocol), Transport: mp.Proto, ExternalPort: mp.ExternalPort, Lease: mp.Lease, Remaining: mp.Remaining(now)})
			}
			return out
		},
		CountsEvents: countsEvents,
	}
}

// UPnPEvent counts a nat/upnp mapper event.
func (x *Exporter) UPnPEvent(ev portmaptype.Event) {
	proto := string(ev.Protocol)
	if proto == "" {
		proto = "upnp"
	}
	switch ev.Kind {
	case portmaptype.EventRenewed:
		x.PortMappingEvent(proto, MappingRenewed)
	case portmaptype.EventFailed, portmaptype.EventLost:
		x.PortMappingEvent(proto, MappingFailed)
	}
}
