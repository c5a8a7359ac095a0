package loadgen

import (
	"os"
	"testing"
)

// TestMain lets the ceiling tests start this test binary again as the
// loopback ceilings' reader process.
func TestMain(m *testing.M) {
	if InitCeilingReader() {
		return
	}
	os.Exit(m.Run())
}
