package engine

import (
	"errors"
	"fmt"
)

// Limits on bencoded input checked before anacrolix decodes it. Its
// decoder recurses once per nesting level with no bound (5 MiB of nested
// lists overflow the 1 GB stack: a fatal error, not a panic), and the v2
// file tree decoder re-decodes every subtree once per level above it, so
// time grows with size × depth. A linear, non-recursive scan with these
// bounds first keeps both time and memory proportional to the input.
//
// The values follow libtorrent's load_torrent_limits (depth 100, 3 M
// tokens, 10 MB), a little more generous in size because v2 piece layers of
// very large torrents are big.
const (
	maxBencodeDepth  = 100
	maxBencodeTokens = 4_000_000
	// maxPathWeight bounds the sum, over every value, of its nesting depth:
	// it is what a v2 file tree costs once anacrolix turns it into one
	// path per file (a leaf at depth d becomes a d-element path). Real
	// torrents of 100,000 files weigh ~10 M.
	maxPathWeight = 32_000_000
)

type benLimits struct {
	depth, tokens, weight int
}

var defaultBenLimits = benLimits{maxBencodeDepth, maxBencodeTokens, maxPathWeight}

// errBencode describes why input failed the scan.
type errBencode struct {
	off int
	msg string
}

func (e *errBencode) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.off) }

// scanBencode checks that b starts with one well-formed bencoded value
// within lim, and returns its length. It allocates only its stack, which
// the depth limit bounds.
func scanBencode(b []byte, lim benLimits) (int, error) {
	type frame struct {
		dict bool
		// wantKey: in a dict, the next value must be a key (a string).
		wantKey bool
	}
	var stack []frame
	tokens, weight := 0, 0
	i := 0
	fail := func(msg string) (int, error) { return 0, &errBencode{i, msg} }
	for {
		if i >= len(b) {
			if len(stack) == 0 {
				return fail("empty input")
			}
			return fail("truncated")
		}
		c := b[i]
		if c != 'e' {
			tokens++
			if tokens > lim.tokens {
				return fail(fmt.Sprintf("more than %d values", lim.tokens))
			}
			weight += len(stack)
			if weight > lim.weight {
				return fail("nesting too heavy (too many deeply nested values)")
			}
		}
		if c == 'e' {
			if len(stack) == 0 {
				return fail("unexpected 'e'")
			}
			top := stack[len(stack)-1]
			if top.dict && !top.wantKey {
				return fail("dictionary key without a value")
			}
			stack = stack[:len(stack)-1]
			i++
		} else {
			inKey := len(stack) > 0 && stack[len(stack)-1].dict && stack[len(stack)-1].wantKey
			if inKey && (c < '0' || c > '9') {
				return fail("dictionary key is not a string")
			}
			switch {
			case c == 'l' || c == 'd':
				if len(stack) >= lim.depth {
					return fail(fmt.Sprintf("nested deeper than %d levels", lim.depth))
				}
				stack = append(stack, frame{dict: c == 'd', wantKey: true})
				i++
				continue // a container's own value ends at its 'e'
			case c == 'i':
				j := i + 1
				if j < len(b) && b[j] == '-' {
					j++
				}
				start := j
				for j < len(b) && b[j] >= '0' && b[j] <= '9' {
					j++
				}
				if j == start || j >= len(b) || b[j] != 'e' {
					return fail("malformed integer")
				}
				if j-start > 19 {
					return fail("integer too long")
				}
				i = j + 1
			case c >= '0' && c <= '9':
				j, n := i, 0
				for j < len(b) && b[j] >= '0' && b[j] <= '9' {
					if j-i >= 10 {
						return fail("string length too long")
					}
					n = n*10 + int(b[j]-'0')
					j++
				}
				if j >= len(b) || b[j] != ':' {
					return fail("malformed string length")
				}
				j++
				if n > len(b)-j {
					return fail(fmt.Sprintf("string of %d bytes runs past the end", n))
				}
				i = j + n
			default:
				return fail(fmt.Sprintf("unexpected byte %q", c))
			}
		}
		// A value (or a container) just ended: it fills its parent's slot.
		if len(stack) == 0 {
			return i, nil
		}
		if top := &stack[len(stack)-1]; top.dict {
			top.wantKey = !top.wantKey
		}
	}
}

// checkBencode is scanBencode for a whole buffer: one value, nothing after.
func checkBencode(b []byte) error {
	n, err := scanBencode(b, defaultBenLimits)
	if err != nil {
		return err
	}
	if n != len(b) {
		return errors.New("trailing bytes after the torrent's dictionary")
	}
	return nil
}
