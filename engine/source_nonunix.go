//go:build !unix

package engine

import "os"

func openNonBlocking(path string) (*os.File, error) { return os.Open(path) }
