package tuning

import (
	"os"
	"testing"

	"github.com/brokerlab/brokerlab/loadgen"
)

// TestMain lets the runner's ceiling measurement start this test binary
// again as the loopback ceilings' reader process.
func TestMain(m *testing.M) {
	if loadgen.InitCeilingReader() {
		return
	}
	os.Exit(m.Run())
}
