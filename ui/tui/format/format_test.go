package format

import (
	"math"
	"testing"
	"time"
)

func TestBytesAndRate(t *testing.T) {
	cases := []struct {
		in   int64
		want string
	}{
		{0, "0 B"}, {999, "999 B"}, {1000, "1.0 kB"}, {1234, "1.2 kB"}, {12345, "12 kB"},
		{999_499, "999 kB"}, {999_500, "1.0 MB"}, {5_000_000_000, "5.0 GB"}, {-1, "-"},
	}
	for _, c := range cases {
		if got := Bytes(c.in); got != c.want {
			t.Errorf("Bytes(%d) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := Rate(1_500_000); got != "1.5 MB/s" {
		t.Errorf("Rate = %q", got)
	}
	if got := Rate(math.NaN()); got != "-" {
		t.Errorf("Rate(NaN) = %q", got)
	}
	if got := Rate(math.MaxFloat64); got == "" {
		t.Errorf("Rate(max) empty")
	}
}

func TestDuration(t *testing.T) {
	cases := map[time.Duration]string{
		0: "0s", 42 * time.Second: "42s", 185 * time.Second: "3m05s",
		2*time.Hour + 7*time.Minute: "2h07m", 76 * time.Hour: "3d04h", -5: "0s",
	}
	for in, want := range cases {
		if got := Duration(in); got != want {
			t.Errorf("Duration(%v) = %q, want %q", in, got, want)
		}
	}
	if ETA(-1) != "∞" || ETA(0) != "-" || ETA(61*time.Second) != "1m01s" {
		t.Errorf("ETA wrong: %q %q %q", ETA(-1), ETA(0), ETA(61*time.Second))
	}
}

func TestPercentRatio(t *testing.T) {
	if Percent(0.999) != "99%" || Percent(1) != "100%" || Percent(-3) != "0%" || Percent(math.NaN()) != "0%" {
		t.Error("Percent wrong")
	}
	if Ratio(0.5) != "0.50" || Ratio(math.Inf(1)) != "-" || Ratio(250) != "250" {
		t.Error("Ratio wrong")
	}
}
