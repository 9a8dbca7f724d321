package text

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestBytesAndRateAreIEC(t *testing.T) {
	cases := []struct {
		in   int64
		want string
	}{
		{0, "0 B"}, {999, "999 B"}, {1000, "1.0 KiB"}, {1024, "1.0 KiB"}, {1300, "1.3 KiB"}, {12345, "12 KiB"},
		{1023 << 10, "1.0 MiB"}, {64 << 20, "64 MiB"}, {5 << 30, "5.0 GiB"}, {-1, "-"},
		{math.MaxInt64, "8.0 EiB"},
	}
	for _, c := range cases {
		if got := Bytes(c.in); got != c.want {
			t.Errorf("Bytes(%d) = %q, want %q", c.in, got, c.want)
		}
		if len([]rune(Bytes(c.in))) > 7 {
			t.Errorf("Bytes(%d) = %q is wider than 7 cells", c.in, Bytes(c.in))
		}
	}
	if got := Rate(1.5 * (1 << 20)); got != "1.5 MiB/s" {
		t.Errorf("Rate = %q", got)
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), -3} {
		if got := Rate(v); got != "-" {
			t.Errorf("Rate(%v) = %q", v, got)
		}
	}
}

func TestDurations(t *testing.T) {
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
	if Lease(3600*time.Second) != "lease 1h00m" || Lease(0) != "permanent" {
		t.Errorf("Lease = %q, %q", Lease(3600*time.Second), Lease(0))
	}
	if Millis(850*time.Millisecond) != "850 ms" || Millis(1250*time.Millisecond) != "1.25 s" {
		t.Errorf("Millis = %q %q", Millis(850*time.Millisecond), Millis(1250*time.Millisecond))
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

func TestWords(t *testing.T) {
	if Plural(1, "peer") != "1 peer" || Plural(0, "peer") != "0 peers" || Plural(2, "torrent") != "2 torrents" {
		t.Error("Plural wrong")
	}
	if OneLine(" a\n\tb  c ") != "a b c" || OrDash("") != "-" || OrDash("x") != "x" {
		t.Error("OneLine/OrDash wrong")
	}
	got := Wrap("the quick brown fox jumps over", 10)
	want := []string{"the quick", "brown fox", "jumps over"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Wrap = %q", got)
	}
	if got := Wrap("abcdefghijkl", 5); strings.Join(got, "|") != "abcde|fghij|kl" {
		t.Errorf("Wrap long word = %q", got)
	}
	if got := Wrap("日本語", 1); len(got) != 3 {
		t.Errorf("Wrap wide runes = %q", got)
	}
}

const evil = "evil\x1b]0;pwned\x07\x1b[2J\x9b31m\u009b32m\u202eexe.txt\x7f\r\n"

func TestCleanRemovesEveryControl(t *testing.T) {
	for _, s := range []string{"", "qBittorrent 4.6.5", "µTorrent 3.6", "日本語のファイル.mkv", "a\u00a0b", "emoji 🎬"} {
		if Clean(s) != s || Dirty(s) {
			t.Errorf("Clean(%q) = %q", s, Clean(s))
		}
	}
	if got := Clean("a\tb\x1bc"); got != "a\uFFFDb\uFFFDc" {
		t.Errorf("Clean = %q", got)
	}
	if Dirty(Clean(evil)) || Dirty(CleanLine(evil)) {
		t.Errorf("Clean left control characters: %q", Clean(evil))
	}
	if !strings.Contains(CleanLine("two\nlines"), "two lines") {
		t.Errorf("CleanLine = %q", CleanLine("two\nlines"))
	}
}

func TestJSONEncoderEscapesControls(t *testing.T) {
	var b bytes.Buffer
	enc := NewJSONEncoder(&b)
	if err := enc.Encode(map[string]string{"name": evil}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if Dirty(strings.TrimSuffix(out, "\n")) {
		t.Fatalf("raw control in JSON output: %q", out)
	}
	var back map[string]string
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("escaped output is not JSON: %v: %q", err, out)
	}
	if back["name"] != strings.ToValidUTF8(evil, "\uFFFD") {
		t.Errorf("round trip = %q, want %q", back["name"], evil)
	}
}

func TestUPnPWordsAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for s := UPnPUnknown; s <= UPnPMapped; s++ {
		if seen[s.String()] {
			t.Errorf("%d: wording %q used twice", s, s.String())
		}
		seen[s.String()] = true
	}
}
