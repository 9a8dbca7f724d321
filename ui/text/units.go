// Package text is the one place where swarmscope turns numbers and
// untrusted strings into words, for every output: the TUI, headless lines,
// the nat printer and JSON. Byte counts use IEC binary units (KiB, MiB)
// everywhere, so the same torrent reads the same in every mode.
package text

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

var units = [...]string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// Bytes renders n in binary units, at most 7 cells: "0 B", "999 B",
// "1.2 KiB", "34 MiB"; negative (unknown) is "-".
func Bytes(n int64) string {
	if n < 0 {
		return "-"
	}
	return scaled(float64(n), "")
}

// Rate renders bytes per second, at most 9 cells: "0 B/s", "1.2 MiB/s".
func Rate(bps float64) string {
	if bps < 0 || math.IsNaN(bps) || math.IsInf(bps, 0) {
		return "-"
	}
	return scaled(bps, "/s")
}

func scaled(v float64, suffix string) string {
	i := 0
	// Three digits at most: 1000 B is shown as 1.0 KiB, not "1000 B".
	for v >= 999.5 && i < len(units)-1 {
		v /= 1024
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

// Millis renders a short measured time (a round trip, a connect) with
// millisecond precision below ten seconds: "850 ms", "1.25 s", "42s".
func Millis(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
	}
	return Duration(d)
}

// ETA renders a time left: negative is unknown ("∞": nothing arrives),
// zero is nothing left ("-").
func ETA(d time.Duration) string {
	if d < 0 {
		return "∞"
	}
	if d == 0 {
		return "-"
	}
	return Duration(d)
}

// Lease renders a port mapping's lease the same way everywhere: zero is a
// permanent mapping, otherwise the time as Duration says it ("1h00m").
func Lease(d time.Duration) string {
	if d <= 0 {
		return "permanent"
	}
	return "lease " + Duration(d)
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

// Percent renders a 0..1 fraction as "63%"; it never says 100% before the
// fraction is exactly 1.
func Percent(f float64) string {
	if math.IsNaN(f) {
		f = 0
	}
	f = math.Max(0, math.Min(1, f))
	return strconv.Itoa(int(f*100)) + "%"
}

// Span renders a length of history: whole minutes as "10m", shorter spans
// as Duration does.
func Span(d time.Duration) string {
	if d >= time.Minute {
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return Duration(d)
}
