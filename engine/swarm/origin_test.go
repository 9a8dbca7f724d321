package swarm

import (
	"encoding/json"
	"testing"
)

func TestOriginTableIsDistinctAndComplete(t *testing.T) {
	seen := map[string]Origin{}
	for i, o := range AllOrigins() {
		in := o.Info()
		if in.Origin != o || o.Index() != i {
			t.Errorf("%s: row %+v at %d", o, in, o.Index())
		}
		if in.Glyph == "" || in.Letter == "" || in.Short == "" || in.Name == "" || in.Hue == "" || in.Explain == "" {
			t.Errorf("%s: incomplete row %+v", o, in)
		}
		for _, k := range []string{"glyph " + in.Glyph, "letter " + in.Letter, "short " + in.Short, "hue " + in.Hue} {
			if prev, dup := seen[k]; dup {
				t.Errorf("%s and %s share %s", prev, o, k)
			}
			seen[k] = o
		}
	}
	u := Origin("bogus").Info()
	if u.Glyph != "?" || u.Short != "bogus" || u.Hue != "subtle" || Origin("bogus").Index() != -1 {
		t.Errorf("unknown origin: %+v", u)
	}
}

func TestOriginCountsJSONKeepsOriginKeys(t *testing.T) {
	var c OriginCounts
	c.Add(OriginInbound, 2)
	c.Add(OriginUPnP, 1)
	c.Add("bogus", 5)
	if c.Total() != 3 || c.Get(OriginInbound) != 2 || c.Get("bogus") != 0 {
		t.Fatalf("counts %v", c)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]int
	if err := json.Unmarshal(b, &m); err != nil || m["inbound"] != 2 || m["upnp"] != 1 || len(m) != NumOrigins {
		t.Fatalf("json %s: %v", b, err)
	}
	var back OriginCounts
	if err := json.Unmarshal(b, &back); err != nil || back != c {
		t.Fatalf("round trip %v -> %v (%v)", c, back, err)
	}
}
