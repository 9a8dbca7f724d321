//go:build !unix

package storage

import "os"

func removed(*os.File) bool { return false }

func freeSpace(string) int64 { return -1 }
