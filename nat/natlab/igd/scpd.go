package igd

import "strings"

// scpdIP and scpdCommon are the service descriptions: the actions the
// gateway implements and their state variables.
var (
	scpdIP = scpd([]action{
		{"AddPortMapping", []arg{{"NewRemoteHost", "in", "RemoteHost"}, {"NewExternalPort", "in", "ExternalPort"}, {"NewProtocol", "in", "PortMappingProtocol"},
			{"NewInternalPort", "in", "InternalPort"}, {"NewInternalClient", "in", "InternalClient"}, {"NewEnabled", "in", "PortMappingEnabled"},
			{"NewPortMappingDescription", "in", "PortMappingDescription"}, {"NewLeaseDuration", "in", "PortMappingLeaseDuration"}}},
		{"DeletePortMapping", []arg{{"NewRemoteHost", "in", "RemoteHost"}, {"NewExternalPort", "in", "ExternalPort"}, {"NewProtocol", "in", "PortMappingProtocol"}}},
		{"GetExternalIPAddress", []arg{{"NewExternalIPAddress", "out", "ExternalIPAddress"}}},
		{"GetStatusInfo", []arg{{"NewConnectionStatus", "out", "ConnectionStatus"}, {"NewLastConnectionError", "out", "LastConnectionError"}, {"NewUptime", "out", "Uptime"}}},
		{"GetConnectionTypeInfo", []arg{{"NewConnectionType", "out", "ConnectionType"}, {"NewPossibleConnectionTypes", "out", "PossibleConnectionTypes"}}},
		{"GetNATRSIPStatus", []arg{{"NewRSIPAvailable", "out", "RSIPAvailable"}, {"NewNATEnabled", "out", "NATEnabled"}}},
		{"GetSpecificPortMappingEntry", []arg{{"NewRemoteHost", "in", "RemoteHost"}, {"NewExternalPort", "in", "ExternalPort"}, {"NewProtocol", "in", "PortMappingProtocol"},
			{"NewInternalPort", "out", "InternalPort"}, {"NewInternalClient", "out", "InternalClient"}, {"NewEnabled", "out", "PortMappingEnabled"},
			{"NewPortMappingDescription", "out", "PortMappingDescription"}, {"NewLeaseDuration", "out", "PortMappingLeaseDuration"}}},
		{"GetGenericPortMappingEntry", []arg{{"NewPortMappingIndex", "in", "PortMappingNumberOfEntries"}, {"NewRemoteHost", "out", "RemoteHost"},
			{"NewExternalPort", "out", "ExternalPort"}, {"NewProtocol", "out", "PortMappingProtocol"}, {"NewInternalPort", "out", "InternalPort"},
			{"NewInternalClient", "out", "InternalClient"}, {"NewEnabled", "out", "PortMappingEnabled"}, {"NewPortMappingDescription", "out", "PortMappingDescription"},
			{"NewLeaseDuration", "out", "PortMappingLeaseDuration"}}},
	}, [][2]string{
		{"ConnectionType", "string"}, {"PossibleConnectionTypes", "string"}, {"ConnectionStatus", "string"}, {"Uptime", "ui4"},
		{"LastConnectionError", "string"}, {"RSIPAvailable", "boolean"}, {"NATEnabled", "boolean"}, {"ExternalIPAddress", "string"},
		{"PortMappingNumberOfEntries", "ui2"}, {"PortMappingEnabled", "boolean"}, {"PortMappingLeaseDuration", "ui4"}, {"RemoteHost", "string"},
		{"ExternalPort", "ui2"}, {"InternalPort", "ui2"}, {"PortMappingProtocol", "string"}, {"InternalClient", "string"}, {"PortMappingDescription", "string"},
	})
	scpdCommon = scpd([]action{
		{"GetCommonLinkProperties", []arg{{"NewWANAccessType", "out", "WANAccessType"}, {"NewLayer1UpstreamMaxBitRate", "out", "Layer1UpstreamMaxBitRate"},
			{"NewLayer1DownstreamMaxBitRate", "out", "Layer1DownstreamMaxBitRate"}, {"NewPhysicalLinkStatus", "out", "PhysicalLinkStatus"}}},
		{"GetTotalBytesSent", []arg{{"NewTotalBytesSent", "out", "TotalBytesSent"}}},
		{"GetTotalBytesReceived", []arg{{"NewTotalBytesReceived", "out", "TotalBytesReceived"}}},
	}, [][2]string{
		{"WANAccessType", "string"}, {"Layer1UpstreamMaxBitRate", "ui4"}, {"Layer1DownstreamMaxBitRate", "ui4"}, {"PhysicalLinkStatus", "string"},
		{"TotalBytesSent", "ui4"}, {"TotalBytesReceived", "ui4"},
	})
)

type arg struct{ name, dir, related string }

type action struct {
	name string
	args []arg
}

func scpd(actions []action, vars [][2]string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?>` + "\n" + `<scpd xmlns="urn:schemas-upnp-org:service-1-0"><specVersion><major>1</major><minor>0</minor></specVersion><actionList>`)
	for _, a := range actions {
		b.WriteString("<action><name>" + a.name + "</name><argumentList>")
		for _, x := range a.args {
			b.WriteString("<argument><name>" + x.name + "</name><direction>" + x.dir + "</direction><relatedStateVariable>" + x.related + "</relatedStateVariable></argument>")
		}
		b.WriteString("</argumentList></action>")
	}
	b.WriteString("</actionList><serviceStateTable>")
	for _, v := range vars {
		b.WriteString(`<stateVariable sendEvents="no"><name>` + v[0] + "</name><dataType>" + v[1] + "</dataType></stateVariable>")
	}
	b.WriteString("</serviceStateTable></scpd>\n")
	return b.String()
}
