// Package dashboards builds the lab's Grafana dashboards as code. The JSON
// files under dashboards/ are its output: `go test ./internal/dashboards
// -update` rewrites them, and the same test fails when a file differs from
// what this package builds, so the files are never edited by hand.
//
// The model is the subset of Grafana's dashboard JSON (schemaVersion 39)
// the lab uses: time series panels with Prometheus targets, a data source
// variable and one instance variable per scrape job. grafana-foundation-sdk
// would give the full schema; this package keeps to the fields the files
// already had, so a reviewer reads the panel list and its PromQL and
// nothing else.
package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Dashboard is one Grafana dashboard.
type Dashboard struct {
	// File is the name under dashboards/.
	File        string
	UID         string
	Title       string
	Description string
	// Vars are the instance variables: name -> scrape job. Each becomes a
	// query variable over label_values(up{job=...}, instance).
	Vars   []Var
	Panels []Panel
}

// Var is a dashboard variable that picks one instance of a scrape job.
type Var struct {
	Name, Label, Job string
}

// Panel is one time series panel.
type Panel struct {
	Title       string
	Description string
	// Unit is Grafana's unit id (s, bytes, Bps, ops, percentunit, short).
	Unit    string
	Targets []Target
}

// Target is one PromQL query of a panel.
type Target struct {
	Expr   string
	Legend string
}

// Exprs returns every PromQL expression of d, in panel order.
func (d Dashboard) Exprs() []string {
	var out []string
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			out = append(out, t.Expr)
		}
	}
	return out
}

// All returns the lab's dashboards.
func All() []Dashboard {
	return []Dashboard{Broker(), Host(), Kernel()}
}

// JSON renders d as Grafana dashboard JSON, indented, ending in a newline.
func (d Dashboard) JSON() ([]byte, error) {
	ds := map[string]string{"type": "prometheus", "uid": "${datasource}"}
	vars := []any{map[string]any{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"}}
	for _, v := range d.Vars {
		vars = append(vars, map[string]any{
			"name": v.Name, "type": "query", "label": v.Label, "datasource": ds,
			"query":   fmt.Sprintf("label_values(up{job=%q}, instance)", v.Job),
			"refresh": 2, "includeAll": false,
		})
	}
	var panels []any
	for i, p := range d.Panels {
		var targets []any
		for j, t := range p.Targets {
			targets = append(targets, map[string]any{
				"refId": string(rune('A' + j)), "expr": t.Expr, "legendFormat": t.Legend, "datasource": ds,
			})
		}
		// Two panels a row, 12 of Grafana's 24 columns wide, 8 rows high.
		panels = append(panels, map[string]any{
			"id": i + 1, "type": "timeseries", "title": p.Title, "description": p.Description, "datasource": ds,
			"gridPos":     map[string]int{"x": 12 * (i % 2), "y": 8 * (i / 2), "w": 12, "h": 8},
			"fieldConfig": map[string]any{"defaults": map[string]any{"unit": p.Unit}, "overrides": []any{}},
			"options": map[string]any{
				"legend":  map[string]string{"displayMode": "list", "placement": "bottom"},
				"tooltip": map[string]string{"mode": "multi"},
			},
			"targets": targets,
		})
	}
	// json.Marshal sorts map keys, so the output is stable.
	out := map[string]any{
		"uid": d.UID, "title": d.Title, "description": d.Description, "tags": []string{"brokerlab"},
		"schemaVersion": 39, "version": 1, "editable": true, "refresh": "5s",
		"time":       map[string]string{"from": "now-15m", "to": "now"},
		"templating": map[string]any{"list": vars},
		"panels":     panels,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("encoding dashboard %s: %w", d.UID, err)
	}
	return buf.Bytes(), nil
}

// sel fills a metric selector's instance matcher: sel("x", "instance")
// is x{instance="$instance"}.
func sel(metric, v string, more ...string) string {
	m := append([]string{fmt.Sprintf(`instance="$%s"`, v)}, more...)
	return metric + "{" + strings.Join(m, ",") + "}"
}

// rate is rate(sel(...)[$__rate_interval]).
func rate(metric, v string, more ...string) string {
	return "rate(" + sel(metric, v, more...) + "[$__rate_interval])"
}

// quantile is the q-quantile of a histogram, summed over every label but by.
func quantile(q, hist, v string, by ...string) string {
	return fmt.Sprintf("histogram_quantile(%s, sum by (%s) (%s))", q, strings.Join(append(by, "le"), ", "), rate(hist+"_bucket", v))
}
