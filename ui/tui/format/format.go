// Package format turns byte counts, rates and durations into the short
// strings the views show in fixed-width columns.
package format

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

var units = [...]string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}

// Bytes renders n with SI units: "0 B", "999 B", "1.2 kB", "34 MB".
func Bytes(n int64) string {
	if n < 0 {
		return "-"
	}
	return scaled(float64(n), "")
}

// Rate renders bytes per second: "0 B/s", "1.2 MB/s".
func Rate(bps float64) string {
	if bps < 0 || math.IsNaN(bps) || math.IsInf(bps, 0) {
		return "-"
	}
	return scaled(bps, "/s")
}

func scaled(v float64, suffix string) string {
	i := 0
	for v >= 999.5 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return strconv.Itoa(int(v+0.5)) + " B" + suffix
	}
	if v < 9.95 {
		return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i] + suffix
	}
	return strconv.Itoa(int(v+0.5)) + " " + units[i] + suffix
}

// Duration renders a span compactly with its two largest units:
// "0s", "42s", "3m05s", "2h07m", "3d04h".
func Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return strconv.FormatInt(s, 10) + "s"
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, (s%3600)/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, (s%86400)/3600)
}

// ETA renders a time left; negative means unknown.
func ETA(d time.Duration) string {
	if d < 0 {
		return "∞"
	}
	if d == 0 {
		return "-"
	}
	return Duration(d)
}

// Ratio renders an upload ratio with two decimals.
func Ratio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
		return "-"
	}
	if r >= 100 {
		return strconv.Itoa(int(r))
	}
	return strconv.FormatFloat(r, 'f', 2, 64)
}

// Percent renders a 0..1 fraction as "63%".
func Percent(f float64) string {
	if math.IsNaN(f) {
		f = 0
	}
	f = math.Max(0, math.Min(1, f))
	// Never claim 100% before it is exactly complete.
	p := int(f * 100)
	return strconv.Itoa(p) + "%"
}

// Span renders a length of history: whole minutes as "10m", shorter spans
// as Duration does.
func Span(d time.Duration) string {
	if d >= time.Minute {
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return Duration(d)
}
