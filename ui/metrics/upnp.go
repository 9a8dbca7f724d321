package metrics

import (
	"time"

	"github.com/swarmscope/swarmscope/nat/upnp"
)

// UPnP describes a nat/upnp mapper for AddPortMapper: transports are the
// protocols it was configured to map ("tcp", "udp"); countsEvents says its
// OnEvent feeds UPnPEvent.
func UPnP(m *upnp.Mapper, transports []string, countsEvents bool) PortMapper {
	return PortMapper{
		Protocols:  []string{"upnp"},
		Transports: transports,
		Mappings: func() []PortMapping {
			now := time.Now()
			var out []PortMapping
			for _, mp := range m.Mappings() {
				if mp.Lease > 0 && mp.Remaining(now) <= 0 {
					continue // lapsed: the gateway no longer forwards it
				}
				out = append(out, PortMapping{Protocol: "upnp", Transport: mp.Proto, ExternalPort: mp.ExternalPort, Lease: mp.Lease, Remaining: mp.Remaining(now)})
			}
			return out
		},
		CountsEvents: countsEvents,
	}
}

// UPnPEvent counts a nat/upnp mapper event.
func (x *Exporter) UPnPEvent(ev upnp.Event) {
	switch ev.Kind {
	case upnp.EventRenewed:
		x.PortMappingEvent("upnp", MappingRenewed)
	case upnp.EventFailed:
		x.PortMappingEvent("upnp", MappingFailed)
	}
}
