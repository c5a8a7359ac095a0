package deps

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func progs(uses []use) []string {
	var out []string
	for _, u := range uses {
		if !slices.Contains(out, u.prog) {
			out = append(out, u.prog)
		}
	}
	slices.Sort(out)
	return out
}

func TestShellPrograms(t *testing.T) {
	src := `#!/usr/bin/env bash
set -euo pipefail # a comment naming notaprogram
here=$(cd "$(dirname "$0")" && pwd)
helper() { kcat -L; }
if ! command -v fio >/dev/null 2>&1; then
	sudo apt-get install -y fio | tee log
fi
for x in a b c; do echo "$x $(uname -r)"; done
case $1 in
--x) mkfs.xfs -f "$dev" ;;
spare[12]) slot=${serial#spare} ;;
*) /usr/sbin/losetup -d x; n=$((n + 1)) ;;
esac
VAR=1 timeout 5 iperf3 -c 127.0.0.1 \
	--json
cat <<END
heredocword
END
bin/lab bench; ./tools/x.sh; "$prog" arg; [[ -f x ]] && helper
mapfile -t a < <(gcc --version)
`
	got := progs(shellPrograms("x.sh", 1, src))
	want := []string{"apt-get", "cat", "cd", "dirname", "echo", "fio", "gcc", "iperf3", "kcat", "losetup", "mapfile", "mkfs.xfs", "pwd", "set", "sudo", "tee", "timeout", "uname"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("programs (-want +got):\n%s", diff)
	}
}

func TestMakefilePrograms(t *testing.T) {
	src := "GO ?= go\nBIN := bin\n\n.PHONY: x\nx: y ## help\n\t@echo \">> $(BIN)\"\n\t@$(GO) test ./... \\\n\t\t-run x\n\t@$(BIN)/lab bench\n\t@test -z \"$$(gofmt -l .)\" || { shellcheck x; exit 1; }\n"
	got := progs(makefilePrograms("Makefile", src))
	want := []string{"echo", "exit", "go", "gofmt", "shellcheck", "test"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("programs (-want +got):\n%s", diff)
	}
}

func TestVagrantPrograms(t *testing.T) {
	src := "Vagrant.configure(\"2\") do |config|\n  config.vm.provision \"shell\", inline: <<-SHELL\n    apt-get install -y make\n    curl -fsSL \"https://x/go#{V}.tar.gz\" | tar -xz\n  SHELL\nend\n"
	got := progs(vagrantPrograms("Vagrantfile", src))
	want := []string{"apt-get", "curl", "tar"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("programs (-want +got):\n%s", diff)
	}
}

func TestGoPrograms(t *testing.T) {
	dir := t.TempDir()
	src := `package x

import "os/exec"

//go:generate go tool bpf2go -x y

var table = map[string][]string{"a": {"mkfs.ext4", "-F"}, "b": {"mkfs.xfs", "-f"}}

const tool = "promtool"

func run(name string, args ...string) error { return exec.Command(name, args...).Run() }

func f(ctx context.Context, bin string) {
	run("losetup", "-f")
	base := table["a"]
	_ = run(base[0], "x")
	exec.CommandContext(ctx, tool, "check")
	exec.LookPath("/usr/sbin/bpftool")
	exec.Command(bin, "x")
	exec.Command("../bin/kfake")
	for _, c := range []string{"kcat", "vagrant"} {
		testutil.RequireCommand(t, c, "apt-get install")
	}
	sh := func(prog string) { exec.Command(prog).Run() }
	sh("shellcheck")
}
`
	path := filepath.Join(dir, "x.go")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	uses, err := goPrograms(dir, []string{path})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bpftool", "clang", "go", "kcat", "llvm-strip", "losetup", "mkfs.ext4", "mkfs.xfs", "promtool", "shellcheck", "vagrant"}
	if diff := cmp.Diff(want, progs(uses)); diff != "" {
		t.Errorf("programs (-want +got):\n%s", diff)
	}
}
