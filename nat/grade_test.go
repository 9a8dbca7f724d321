package nat

import (
	"strings"
	"testing"
)

func TestEveryMeasuredTypeAndVerdictHasAGrade(t *testing.T) {
	for _, ty := range Types {
		if g := ty.Grade(); (ty == TypeUnknown) != (g == GradeUnknown) {
			t.Errorf("%s grades %d", ty, g)
		}
	}
	for _, v := range []Verdict{VerdictPublic, VerdictUPnP, VerdictFullCone, VerdictOutboundOnly, VerdictUnknown, ""} {
		if !strings.HasPrefix(v.Text(), "reachable: ") {
			t.Errorf("verdict %q says %q", v, v.Text())
		}
		if (v == VerdictUnknown || v == "") != (v.Grade() == GradeUnknown) {
			t.Errorf("verdict %q grades %d", v, v.Grade())
		}
	}
}
