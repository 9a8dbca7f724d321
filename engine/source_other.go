//go:build !linux

package engine

func nameMaxOf(string) int { return maxNameBytes }
