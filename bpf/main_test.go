package bpf

import (
	"os"
	"testing"
)

// TestMain runs the swap test's child when the test binary is re-executed
// with swapChildEnv set, and the tests otherwise.
func TestMain(m *testing.M) {
	if cg := os.Getenv(swapChildEnv); cg != "" {
		os.Exit(swapChild(cg))
	}
	if cg := os.Getenv(fsyncChildEnv); cg != "" {
		os.Exit(fsyncChild(cg))
	}
	os.Exit(m.Run())
}
