package watch

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/bpf"
	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/procsample"
)

func probeWindowFixture() (bpf.Snapshot, procsample.Sample) {
	t0 := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	b := bpf.Snapshot{Time: t0, Window: bpf.Duration(time.Second), Counters: []bpf.Counter{
		{Family: bpf.FamilySwap, Name: "swapin_pages", Method: "tp_btf/count_memcg_events(PSWPIN)", Unit: bpf.UnitPages, Value: 40960},
		{Family: bpf.FamilySwap, Name: "swapout_pages", Method: "tp_btf/count_memcg_events(PSWPOUT)", Unit: bpf.UnitPages, Value: 65655},
		{Family: bpf.FamilySwap, Name: "page_faults", Method: "tp_btf/page_fault_user+page_fault_kernel", Unit: bpf.UnitEvents, Value: 41000},
	}}
	p := procsample.Sample{
		Time:    t0,
		VMStat:  procsample.VMStat{PswpIn: 40960, PswpOut: 65655, PgpgIn: 12},
		MemInfo: procsample.MemInfo{Cached: 3 << 30, Dirty: 5 << 20},
		SNMP:    procsample.SNMP{TCPRetransSegs: 2},
		Process: &procsample.Process{PID: 4242, MinFlt: 40990, MajFlt: 10, RSS: 64 << 20, VmSwap: 96 << 20},
	}
	return b, p
}

func TestProbeWindowText(t *testing.T) {
	b, p := probeWindowFixture()
	var buf bytes.Buffer
	if err := WriteWindow(&buf, b, p, false); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, buf.Bytes())
}

func TestProbeWindowJSONPairsTwins(t *testing.T) {
	b, p := probeWindowFixture()
	var buf bytes.Buffer
	if err := WriteWindow(&buf, b, p, true); err != nil {
		t.Fatal(err)
	}
	var got struct {
		CrossCheck []twin `json:"cross_check"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, buf.String())
	}
	want := map[string][2]string{
		"swap-ins (pages)":  {"40960", "40960"},
		"swap-outs (pages)": {"65655", "65655"},
		"page faults":       {"41000", "41000"},
	}
	for _, tw := range got.CrossCheck {
		if w, ok := want[tw.Question]; ok {
			if tw.BPFValue != w[0] || tw.Value != w[1] {
				t.Errorf("%s: bpf %s procfs %s, want %s and %s", tw.Question, tw.BPFValue, tw.Value, w[0], w[1])
			}
			delete(want, tw.Question)
		}
	}
	if len(want) > 0 {
		t.Errorf("cross-check rows missing: %v", want)
	}
}
