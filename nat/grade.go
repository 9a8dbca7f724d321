package nat

// Grade says how good a NAT situation is for a torrent client, for the
// colours of badges: the views map it to a style, the nat package knows
// what is good.
type Grade int

const (
	GradeUnknown Grade = -1
	GradeGood    Grade = 0 // peers can reach you
	GradeSoSo    Grade = 1 // holepunching works
	GradeBad     Grade = 2
)

// Grade grades a classic NAT type.
func (t Type) Grade() Grade {
	switch t {
	case TypeOpen, TypeFullCone:
		return GradeGood
	case TypeRestrictedCone, TypePortRestrictedCone:
		return GradeSoSo
	case TypeSymmetric, TypeSymmetricFirewall, TypeUDPBlocked:
		return GradeBad
	}
	return GradeUnknown
}

// Grade grades a reachability verdict like Type.Grade.
func (v Verdict) Grade() Grade {
	switch v {
	case VerdictPublic, VerdictUPnP, VerdictFullCone:
		return GradeGood
	case VerdictOutboundOnly:
		return GradeBad
	}
	return GradeUnknown
}

// Text says a verdict in a few words.
func (v Verdict) Text() string {
	switch v {
	case VerdictPublic:
		return "reachable: yes, public address"
	case VerdictUPnP:
		return "reachable: yes, port mapped"
	case VerdictFullCone:
		return "reachable: yes, full-cone NAT"
	case VerdictOutboundOnly:
		return "reachable: no, outbound only"
	}
	return "reachable: unknown"
}
