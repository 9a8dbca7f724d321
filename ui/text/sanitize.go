package text

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Strings that reach a terminal from the network (client names from
// handshakes, torrent and file names from metadata, tracker and relay
// messages, router names from UPnP) or from a .torrent could carry escape
// sequences that repaint or reprogram the user's terminal, or bidi
// overrides that disguise a name ("exe.txt" shown for "txt.exe"). Every
// output cleans them with Clean; JSON output escapes them instead
// (NewJSONEncoder), so the value survives and no terminal interprets it.

// Clean replaces C0 and C1 control characters (ESC, BEL, CSI, OSC's
// introducers, newlines), DEL and the bidirectional overrides and isolates
// with U+FFFD, and so does each byte of invalid UTF-8. Clean text is returned as is, without allocating.
func Clean(s string) string {
	if !Dirty(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if Unsafe(r) {
			return utf8.RuneError
		}
		return r
	}, s)
}

// CleanLine is Clean after OneLine: white space (a newline in an error
// message) becomes one space instead of U+FFFD.
func CleanLine(s string) string { return Clean(OneLine(s)) }

// Dirty reports whether Clean would change s.
func Dirty(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return true
		}
		if c >= 0x80 {
			// The slow path only for non-ASCII text. Invalid UTF-8 counts:
			// a lone 0x9b byte is CSI to a terminal not in UTF-8 mode.
			for j := i; j < len(s); {
				r, n := utf8.DecodeRuneInString(s[j:])
				if Unsafe(r) || r == utf8.RuneError && n == 1 {
					return true
				}
				j += n
			}
			return false
		}
	}
	return false
}

// Unsafe reports whether r must not reach a terminal raw.
func Unsafe(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// NewJSONEncoder is a json.Encoder whose output holds no raw control or
// bidi character: encoding/json escapes C0 controls itself, and the writer
// beneath escapes DEL, C1 and the bidi overrides as \uXXXX. Outside strings
// JSON is ASCII, so every such rune it meets is inside a string, where the
// escape means the same rune.
func NewJSONEncoder(w io.Writer) *json.Encoder {
	return json.NewEncoder(jsonEscaper{w})
}

type jsonEscaper struct{ w io.Writer }

// Write escapes p; json.Encoder writes each value in one call, so no rune
// is split between calls.
func (e jsonEscaper) Write(p []byte) (int, error) {
	if !Dirty(string(p[:len(p)-trailingNewline(p)])) {
		return e.w.Write(p)
	}
	total := len(p)
	var b bytes.Buffer
	b.Grow(len(p) + 16)
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		if r != '\n' && Unsafe(r) {
			b.WriteString(`\u`)
			h := strconv.FormatInt(int64(r), 16)
			b.WriteString(strings.Repeat("0", 4-len(h)) + h)
		} else {
			b.Write(p[:n])
		}
		p = p[n:]
	}
	if _, err := e.w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return total, nil
}

func trailingNewline(p []byte) int {
	if len(p) > 0 && p[len(p)-1] == '\n' {
		return 1
	}
	return 0
}
