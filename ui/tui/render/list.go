package render

import "strconv"

// List is a cursor over Len rows of which Height are visible from Offset.
// It keeps the cursor visible after every move.
type List struct {
	Cursor, Offset, Len, Height int
}

// Clamp brings cursor and offset back into range after Len or Height change.
func (l *List) Clamp() {
	if l.Len <= 0 {
		l.Cursor, l.Offset = 0, 0
		return
	}
	l.Cursor = max(0, min(l.Cursor, l.Len-1))
	h := max(l.Height, 1)
	if l.Cursor < l.Offset {
		l.Offset = l.Cursor
	}
	if l.Cursor >= l.Offset+h {
		l.Offset = l.Cursor - h + 1
	}
	l.Offset = max(0, min(l.Offset, max(l.Len-h, 0)))
}

// Move moves the cursor by d rows.
func (l *List) Move(d int) { l.Cursor += d; l.Clamp() }

// Page moves by d pages.
func (l *List) Page(d int) { l.Move(d * max(l.Height-1, 1)) }

// Home goes to the first row.
func (l *List) Home() { l.Cursor = 0; l.Clamp() }

// End goes to the last row.
func (l *List) End() { l.Cursor = l.Len - 1; l.Clamp() }

// Scroll moves the view by d rows (mouse wheel) and drags the cursor along
// when it would leave the view.
func (l *List) Scroll(d int) {
	h := max(l.Height, 1)
	l.Offset = max(0, min(l.Offset+d, max(l.Len-h, 0)))
	if l.Cursor < l.Offset {
		l.Cursor = l.Offset
	}
	if l.Cursor >= l.Offset+h {
		l.Cursor = l.Offset + h - 1
	}
	l.Clamp()
}

// Visible returns the half-open range of rows on screen.
func (l *List) Visible() (from, to int) {
	return l.Offset, min(l.Offset+max(l.Height, 0), l.Len)
}

// CountInfo is a pane title's count: "40", or "6/40" when a filter hides
// some.
func CountInfo(shown, total int) string {
	if shown == total {
		return strconv.Itoa(total)
	}
	return strconv.Itoa(shown) + "/" + strconv.Itoa(total)
}
