package dashboards

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the dashboard files under dashboards/")

// TestFilesAreGenerated fails when a file under dashboards/ differs from
// what this package builds; -update rewrites them.
func TestFilesAreGenerated(t *testing.T) {
	for _, d := range All() {
		t.Run(d.File, func(t *testing.T) {
			got, err := d.JSON()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("..", "..", "dashboards", d.File)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s is not what internal/dashboards builds (-file +built); run go test ./internal/dashboards -update:\n%s", path, diff)
			}
		})
	}
}

// TestPanelsAreComplete checks what Grafana needs of each panel.
func TestPanelsAreComplete(t *testing.T) {
	for _, d := range All() {
		for _, p := range d.Panels {
			if p.Title == "" || p.Unit == "" || len(p.Targets) == 0 {
				t.Errorf("%s: panel %q lacks a title, unit or target", d.File, p.Title)
			}
			for _, tg := range p.Targets {
				if tg.Expr == "" || tg.Legend == "" {
					t.Errorf("%s: panel %q has a target without expression or legend", d.File, p.Title)
				}
			}
		}
	}
}
