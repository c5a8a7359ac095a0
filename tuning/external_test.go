package tuning

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExternalConfigCarriesTheTemplateAndTheCellsKeys(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "kafka.properties.tmpl"), []byte("listeners=PLAINTEXT://{{.Addr}}\nlog.dirs={{.LogDir}}\nnum.io.threads=8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := ExternalBroker{Spec: External{Name: "kafka", Command: []string{"bin/kafka-server-start.sh", "{{.Config}}"}, Config: "kafka.properties.tmpl"}, Root: root}
	keys, err := overrideKeys(Settings{Broker: map[string]string{"num.io.threads": "16", "log.segment.bytes": "268435456"}}.Overrides())
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.renderConfig(ExternalVars{Addr: "127.0.0.1:9093", LogDir: "/mnt/x/kafka-logs"}, keys)
	if err != nil {
		t.Fatal(err)
	}
	want := "listeners=PLAINTEXT://127.0.0.1:9093\nlog.dirs=/mnt/x/kafka-logs\nnum.io.threads=8\n# the cell's broker keys (the lab)\nlog.segment.bytes=268435456\nnum.io.threads=16\n"
	if string(b) != want {
		t.Errorf("config:\n%s\nwant\n%s", b, want)
	}
}

func TestExternalTargetWithoutTemplateRejectsBrokerKeys(t *testing.T) {
	_, err := ParsePlan([]byte(`
name: t
workload: workloads/1-topic-16-partitions-1kb.yaml
driver: workloads/driver-default.yaml
repetitions: 4
warmup: 1s
measure: 2s
target: {name: kfake, command: [bin/kfake, -listen, "{{.Addr}}"], addr: "127.0.0.1:9192"}
matrix:
  - name: seg
    levels:
      - {name: a, broker: {log.segment.bytes: "1073741824"}}
      - {name: b, broker: {log.segment.bytes: "268435456"}}
`))
	if err == nil || !strings.Contains(err.Error(), "target.config") || !strings.Contains(err.Error(), "need a config template to reach kfake") {
		t.Errorf("error %v, want target.config named", err)
	}
}
