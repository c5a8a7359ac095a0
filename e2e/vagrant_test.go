package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// TestVagrantfileValidates checks the Vagrantfile with Vagrant itself and
// the libvirt provider's plugin, so the provider blocks are evaluated too.
func TestVagrantfileValidates(t *testing.T) {
	vagrant := testutil.RequireCommand(t, "vagrant", "apt-get install vagrant vagrant-libvirt")
	if _, err := os.Stat("/usr/share/vagrant-plugins/plugins.d/vagrant-libvirt.json"); err != nil {
		testutil.Unavailable(t, "the vagrant-libvirt plugin is not installed (apt-get install vagrant-libvirt): %v", err)
	}
	for _, provider := range []string{"libvirt", "virtualbox"} {
		t.Run(provider, func(t *testing.T) {
			args := []string{"validate"}
			if provider == "virtualbox" {
				// No VirtualBox here: Vagrant cannot load its provider.
				args = append(args, "--ignore-provider")
			}
			cmd := exec.Command(vagrant, args...)
			cmd.Dir = repoRoot(t)
			cmd.Env = append(os.Environ(), "VAGRANT_EXPERIMENTAL=disks", "VAGRANT_HOME="+t.TempDir(), "VAGRANT_DEFAULT_PROVIDER="+provider)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "validated successfully") {
				t.Fatalf("vagrant validate: %v\n%s", err, out)
			}
		})
	}
}

// TestProvisionScriptPassesShellcheck lints the VM's provisioning script.
func TestProvisionScriptPassesShellcheck(t *testing.T) {
	sc := testutil.RequireCommand(t, "shellcheck", "apt-get install shellcheck")
	out, err := exec.Command(sc, filepath.Join(repoRoot(t), "tools", "vm", "provision.sh")).CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck tools/vm/provision.sh: %v\n%s", err, out)
	}
}

// TestProvisionHostModeBuildsAsRoot runs the provisioning script on this
// machine, installing into the real system as CI does (it keeps a Go that is
// new enough and never removes /usr/local/go), then builds through sudo,
// whose secure_path holds /usr/local/bin but not /usr/local/go/bin (as
// `sudo make bench` in the VM), and through sudo -i.
func TestProvisionHostModeBuildsAsRoot(t *testing.T) {
	testutil.RequirePrivileged(t, "installing packages and Go into the system")
	repo := repoRoot(t)
	before, _ := os.Stat("/usr/local/go/bin/go")
	cmd := exec.Command(filepath.Join(repo, "tools", "vm", "provision.sh"), "--host", "--repo", repo)
	out, err := cmd.CombinedOutput()
	t.Logf("provision.sh --host:\n%s", out)
	if err != nil {
		t.Fatalf("provision.sh --host: %v", err)
	}
	if before != nil {
		after, err := os.Stat("/usr/local/go/bin/go")
		if err != nil || !os.SameFile(before, after) {
			t.Fatalf("provision.sh --host replaced or removed /usr/local/go (%v)", err)
		}
	}
	sudo := testutil.RequireCommand(t, "sudo", "apt-get install sudo")
	// sudo resets PATH to sudoers' secure_path (/usr/local/bin, not
	// /usr/local/go/bin): the VM's `sudo make bench`. sudo -i is root's
	// login shell.
	for _, args := range [][]string{{}, {"-i"}} {
		bin := t.TempDir()
		cmd := append(args, "make", "-C", repo, "build", "BIN="+bin)
		out, err := exec.Command(sudo, cmd...).CombinedOutput()
		t.Logf("sudo %s:\n%s", strings.Join(cmd, " "), out)
		if err != nil {
			t.Fatalf("sudo %s after provisioning: %v", strings.Join(cmd, " "), err)
		}
		for _, b := range []string{"broker", "lab", "kfake"} {
			if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
				t.Errorf("sudo %s made no %s: %v", strings.Join(cmd, " "), b, err)
			}
		}
	}
}
