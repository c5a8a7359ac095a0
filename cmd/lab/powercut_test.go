package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/brokerlab/brokerlab/procsample"
)

func TestCheckoutHeadReadsAWorktreesRef(t *testing.T) {
	base := t.TempDir()
	common := filepath.Join(base, "repo.git")
	wt := filepath.Join(common, "worktrees", "w")
	checkout := filepath.Join(base, "w")
	for _, d := range []string{wt, checkout, filepath.Join(common, "refs", "heads")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		filepath.Join(checkout, ".git"):      "gitdir: " + wt + "\n",
		filepath.Join(wt, "HEAD"):            "ref: refs/heads/w\n",
		filepath.Join(wt, "commondir"):       "../..\n",
		filepath.Join(common, "packed-refs"): "# pack-refs with: peeled\n1111111111111111111111111111111111111111 refs/heads/main\n2222222222222222222222222222222222222222 refs/heads/w\n",
	}
	for p, c := range files {
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := procsample.ReadCheckoutHead(checkout); err != nil || got != "2222222222222222222222222222222222222222" {
		t.Errorf("packed ref: %q, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(common, "refs", "heads", "w"), []byte("3333333333333333333333333333333333333333\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := procsample.ReadCheckoutHead(checkout); err != nil || got != "3333333333333333333333333333333333333333" {
		t.Errorf("loose ref: %q, %v", got, err)
	}
}
