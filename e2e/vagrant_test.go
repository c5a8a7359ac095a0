package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// TestVagrantfileValidates checks the Vagrantfile with Vagrant itself. No
// hypervisor exists here, so the provider blocks are not evaluated.
func TestVagrantfileValidates(t *testing.T) {
	vagrant := testutil.RequireCommand(t, "vagrant", "apt-get install vagrant")
	cmd := exec.Command(vagrant, "validate", "--ignore-provider")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "VAGRANT_EXPERIMENTAL=disks", "VAGRANT_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "validated successfully") {
		t.Fatalf("vagrant validate: %v\n%s", err, out)
	}
}
