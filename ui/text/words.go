package text

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// Plural counts a regular noun: Plural(1, "peer") is "1 peer", Plural(2,
// "peer") is "2 peers".
func Plural(n int, noun string) string {
	return PluralOf(n, noun, noun+"s")
}

// PluralOf counts a noun with its own plural form.
func PluralOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// OneLine folds every run of white space (newlines included) into one
// space: an error or a message fits one line of output.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// OrDash is s, or "-" when s is empty: an empty cell says "nothing".
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Wrap breaks plain text into lines of at most w terminal cells at spaces;
// a word longer than w is cut.
func Wrap(s string, w int) []string {
	w = max(w, 1)
	var out []string
	line := ""
	for _, word := range strings.Fields(s) {
		for ansi.StringWidth(word) > w {
			if line != "" {
				out = append(out, line)
				line = ""
			}
			head := ansi.Truncate(word, w, "")
			if head == "" { // a rune wider than w
				_, n := utf8.DecodeRuneInString(word)
				head = word[:n]
			}
			out = append(out, head)
			word = word[len(head):]
		}
		switch {
		case word == "":
		case line == "":
			line = word
		case ansi.StringWidth(line)+1+ansi.StringWidth(word) <= w:
			line += " " + word
		default:
			out = append(out, line)
			line = word
		}
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}
