package swarm

import (
	"encoding/json"
	"fmt"
)

// Origin says how a peer connection came to exist. It is the one fact
// swarmscope adds to an ordinary torrent client, so every view keys on it.
type Origin string

const (
	OriginInbound     Origin = "inbound"     // the peer dialed us
	OriginOutbound    Origin = "outbound"    // we dialed the peer
	OriginHolepunched Origin = "holepunched" // a BEP 55 rendezvous brought us together
	OriginUPnP        Origin = "upnp"        // the peer dialed us through a port mapping we made
)

// OriginInfo is everything the views say about one origin. Every view reads
// it from the table below, so an origin has one glyph, one colour and one
// explanation everywhere.
type OriginInfo struct {
	Origin Origin
	// Glyph is one terminal cell; the arrows point the way the connection
	// was dialed as seen from the user.
	Glyph string
	// Letter is a one-letter ASCII code for logs and narrow columns.
	Letter string
	// Short is the column label, Name the word used in sentences.
	Short, Name string
	// Hue names the colour role; styles maps it to a colour pair readable
	// on light and dark backgrounds.
	Hue string
	// Explain says in one sentence, to the user, what the origin means.
	Explain string
}

// originTable is in display order.
var originTable = [...]OriginInfo{
	{OriginInbound, "◀", "I", "in", "inbound", "green",
		"the peer dialed your public address and your NAT let it in"},
	{OriginOutbound, "▶", "O", "out", "outbound", "blue",
		"you dialed the peer; your NAT made the mapping on the way out"},
	{OriginHolepunched, "◆", "H", "hp", "holepunched", "violet",
		"a relay peer introduced you (BEP 55 ut_holepunch) and both sides dialed at once through their NATs"},
	{OriginUPnP, "■", "U", "upnp", "port-mapped", "amber",
		"the peer dialed you through the port mapping swarmscope made on your router"},
}

// NumOrigins is the number of known origins.
const NumOrigins = len(originTable)

// unknownOrigin is what the views show for an origin not in the table (a
// newer engine's JSON read by an older viewer, say).
var unknownOrigin = OriginInfo{Glyph: "?", Letter: "?", Short: "?", Name: "unknown", Hue: "subtle",
	Explain: "an origin this version does not know"}

// AllOrigins lists every origin in display order.
func AllOrigins() [NumOrigins]Origin {
	var out [NumOrigins]Origin
	for i, r := range originTable {
		out[i] = r.Origin
	}
	return out
}

// Index is o's position in display order, or -1 if o is unknown.
func (o Origin) Index() int {
	for i, r := range originTable {
		if r.Origin == o {
			return i
		}
	}
	return -1
}

// Info is o's row of the origin table; an unknown origin gets "?" glyphs,
// the subtle hue and its own key as short name.
func (o Origin) Info() OriginInfo {
	if i := o.Index(); i >= 0 {
		return originTable[i]
	}
	u := unknownOrigin
	u.Origin = o
	if o != "" {
		u.Short = string(o)
	}
	return u
}

// OriginCounts counts peers per origin, indexed by display order.
type OriginCounts [NumOrigins]int

// Get returns the count for o (0 for an unknown origin).
func (c OriginCounts) Get(o Origin) int {
	if i := o.Index(); i >= 0 {
		return c[i]
	}
	return 0
}

// Add adds n to the count for o; an unknown origin is not counted.
func (c *OriginCounts) Add(o Origin, n int) {
	if i := o.Index(); i >= 0 {
		c[i] += n
	}
}

// Total is the number of peers over all origins.
func (c OriginCounts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// MarshalJSON writes {"inbound":1,"outbound":2,...}, keyed by origin.
func (c OriginCounts) MarshalJSON() ([]byte, error) {
	m := make(map[Origin]int, NumOrigins)
	for i, r := range originTable {
		m[r.Origin] = c[i]
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads what MarshalJSON writes; unknown keys are ignored.
func (c *OriginCounts) UnmarshalJSON(b []byte) error {
	var m map[Origin]int
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("origin counts: %w", err)
	}
	*c = OriginCounts{}
	for o, n := range m {
		c.Add(o, n)
	}
	return nil
}
