// Package bytesize renders byte counts in binary units. It is a leaf so
// that engine and engine/storage (which engine imports) share one
// implementation.
package bytesize

import "fmt"

// Format renders a byte count with binary units: "999 B", "1.2 MiB".
func Format(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
