package text

// UPnPState is what swarmscope knows of the port mapping on the user's
// router. Each state has one wording, used by the header badge, the NAT
// pane, the nat printer and the map.
type UPnPState int

const (
	// UPnPUnknown: not looked for yet (or the check is still running).
	UPnPUnknown UPnPState = iota
	// UPnPOff: the user turned UPnP off (--no-upnp).
	UPnPOff
	// UPnPNoGateway: looked for, no gateway answered.
	UPnPNoGateway
	// UPnPFailed: the search or the gateway failed.
	UPnPFailed
	// UPnPNoMapping: a gateway answered, but holds no mapping for us.
	UPnPNoMapping
	// UPnPMapped: a mapping is held; peers can dial in through it.
	UPnPMapped
)

var upnpWords = [...]string{
	UPnPUnknown:   "UPnP not checked",
	UPnPOff:       "UPnP off",
	UPnPNoGateway: "no UPnP gateway",
	UPnPFailed:    "UPnP failed",
	UPnPNoMapping: "UPnP gateway, no mapping",
	UPnPMapped:    "UPnP mapped",
}

// String is the state's one wording.
func (s UPnPState) String() string {
	if s >= 0 && int(s) < len(upnpWords) {
		return upnpWords[s]
	}
	return upnpWords[UPnPUnknown]
}

// Level grades the state for colour: 0 good, 1 so-so, 2 bad, -1 unknown.
func (s UPnPState) Level() int {
	switch s {
	case UPnPMapped:
		return 0
	case UPnPNoMapping, UPnPNoGateway, UPnPOff:
		return 1
	case UPnPFailed:
		return 2
	}
	return -1
}
