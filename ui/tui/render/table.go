package render

// Column describes one table column. Columns with a lower Prio are dropped
// first when the table is too narrow; Flex columns share the spare width.
type Column struct {
	Title string
	Width int  // preferred width (the minimum for Flex columns)
	Flex  bool // takes spare width
	Right bool // right-aligned
	Prio  int  // higher survives longer
}

// Widths lays cols out in total cells with one space between columns. A
// zero width means the column is hidden.
func Widths(cols []Column, total int) []int {
	w := make([]int, len(cols))
	shown := make([]bool, len(cols))
	for i := range cols {
		shown[i] = true
	}
	need := func() int {
		n, k := 0, 0
		for i, c := range cols {
			if shown[i] {
				n += c.Width
				k++
			}
		}
		if k > 0 {
			n += k - 1
		}
		return n
	}
	for need() > total {
		// Hide the lowest-priority column still shown (rightmost on ties).
		drop := -1
		for i, c := range cols {
			if shown[i] && (drop < 0 || c.Prio <= cols[drop].Prio) {
				drop = i
			}
		}
		if drop < 0 {
			break
		}
		shown[drop] = false
		if need() == 0 {
			break
		}
	}
	spare := total - need()
	flex := 0
	for i, c := range cols {
		if shown[i] && c.Flex {
			flex++
		}
	}
	for i, c := range cols {
		if !shown[i] {
			continue
		}
		w[i] = c.Width
		if c.Flex && flex > 0 && spare > 0 {
			add := spare / flex
			w[i] += add
			spare -= add
			flex--
		}
	}
	return w
}

// Row joins cells into one line using widths from Widths; hidden columns are
// skipped. Cells are fitted to their width.
func Row(cols []Column, widths []int, cells []string) string {
	buf := make([]byte, 0, 256)
	first := true
	for i, w := range widths {
		if w == 0 {
			continue
		}
		if !first {
			buf = append(buf, ' ')
		}
		first = false
		c := ""
		if i < len(cells) {
			c = cells[i]
		}
		if cols[i].Right {
			buf = append(buf, FitRight(c, w)...)
		} else {
			buf = append(buf, Fit(c, w)...)
		}
	}
	return string(buf)
}

// ColumnAt returns the column index under cell x of a row, or -1.
func ColumnAt(widths []int, x int) int {
	pos := 0
	for i, w := range widths {
		if w == 0 {
			continue
		}
		if x >= pos && x < pos+w {
			return i
		}
		pos += w + 1
	}
	return -1
}
