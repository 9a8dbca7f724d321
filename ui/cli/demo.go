package cli

import (
	"context"
	"fmt"
	"io"
)

// runDemo is a placeholder so the CLI builds before the demo lands; the
// demo engineer owns this file and replaces it with the real command.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "swarmscope demo: not built yet")
	return ExitFailure
}
