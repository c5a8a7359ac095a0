package procsample

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const fixtures = "testdata/proc"

func TestParseVMStat(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    VMStat
		wantErr bool
	}{
		{"keeps the swap and paging counters", "nr_free_pages 5\npgpgin 10\npgpgout 20\npswpin 3\npswpout 4\npgfault 99\npgmajfault 7\n",
			VMStat{PgpgIn: 10, PgpgOut: 20, PswpIn: 3, PswpOut: 4, PgFault: 99, PgMajFault: 7}, false},
		{"skips names it does not know", "nr_dirty 1\nfoo 2\n", VMStat{}, false},
		{"rejects a line without a value", "pswpin\n", VMStat{}, true},
		{"rejects a value that is not a number", "pswpin x\n", VMStat{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseVMStat(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSNMP(t *testing.T) {
	in := "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm MaxConn InSegs OutSegs RetransSegs InErrs OutRsts\nTcp: 1 -1 100 200 3 0 2\n"
	got, err := ParseSNMP(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := SNMP{TCPInSegs: 100, TCPOutSegs: 200, TCPRetransSegs: 3, TCPOutRsts: 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := ParseSNMP(strings.NewReader("Ip: A\nIp: 1\n")); err == nil {
		t.Error("no Tcp lines: want an error")
	}
	if _, err := ParseSNMP(strings.NewReader("Tcp: A B\nTcp: 1\n")); err == nil {
		t.Error("short Tcp values: want an error")
	}
}

func TestSamplerReadsFixtures(t *testing.T) {
	s, err := New(Config{ProcRoot: fixtures, SysRoot: "testdata/sys", PID: 4242, Device: "vda"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Sample()
	if err != nil {
		t.Fatal(err)
	}
	got.Time = got.Time.UTC().Truncate(0)
	want := Sample{
		Time:     got.Time,
		VMStat:   VMStat{PgpgIn: 2116166, PgpgOut: 2604981, PswpIn: 17, PswpOut: 42, PgFault: 12961837, PgMajFault: 2705},
		MemInfo:  MemInfo{MemTotal: 24683620 << 10, Cached: 1209032 << 10, Dirty: 103004 << 10, Writeback: 0, SwapCached: got.MemInfo.SwapCached, SwapTotal: got.MemInfo.SwapTotal, SwapFree: got.MemInfo.SwapFree},
		SockStat: SockStat{SocketsUsed: 14, TCPInUse: 1, TCPAlloc: 1, TCPMemPages: 237},
		SNMP:     SNMP{TCPInSegs: 46874, TCPOutSegs: 42989, TCPRetransSegs: 18, TCPOutRsts: 2},
		Disk: &DiskStats{Device: "vda", ReadIOs: 81147, WriteIOs: 47673, ReadSectors: 4228202, WriteSectors: 4934120,
			ReadTicks: 25982, WriteTicks: 18783, FlushIOs: 9160, IOTicks: 21416},
		Process: &Process{PID: 4242, Comm: "broker", RSS: 2156 << 10, VmSwap: 1024 << 10, MinFlt: 128, NumThrds: 1, CPUSeconds: 0.01, SystemSeconds: 0.01, PeakRSS: 2156 << 10},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sample of testdata (-want +got):\n%s", diff)
	}
}

func TestDiskByMajorMinorAndMissingDevice(t *testing.T) {
	d, err := ReadDiskStats(fixtures, "testdata/sys", "254:0")
	if err != nil || d.Device != "vda" {
		t.Fatalf("254:0 -> %+v, %v; want vda", d, err)
	}
	if _, err := ReadDiskStats(fixtures, "testdata/sys", "nvme9n9"); err == nil || !strings.Contains(err.Error(), "nvme9n9") {
		t.Fatalf("missing device: err = %v", err)
	}
}

// readFixtureProcess is what read, named name, reads of the fixtures'
// process 4242; reading process 4243, which the fixtures lack, must fail.
func readFixtureProcess[A, B any](t *testing.T, name string, read func(procRoot string, pid int) (A, B, error)) (A, B) {
	t.Helper()
	a, b, err := read(fixtures, 4242)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := read(fixtures, 4243); err == nil {
		t.Errorf("%s of a missing process succeeded", name)
	}
	return a, b
}

func TestReadStartTimeReadsField22AndTheState(t *testing.T) {
	start, zombie := readFixtureProcess(t, "ReadStartTime", ReadStartTime)
	if start != 94435 || zombie {
		t.Errorf("ReadStartTime = %d, zombie %v; want 94435, false (state R)", start, zombie)
	}
}

func TestReadIOCallsReadsSyscrAndSyscw(t *testing.T) {
	reads, writes := readFixtureProcess(t, "ReadIOCalls", ReadIOCalls)
	if reads != 17 || writes != 9 {
		t.Errorf("ReadIOCalls = %d reads, %d writes; want 17, 9", reads, writes)
	}
}

func TestReadContextSwitchesSumsEveryThread(t *testing.T) {
	vol, invol := readFixtureProcess(t, "ReadContextSwitches", ReadContextSwitches)
	// task/4242 (the leader) 0 and 39, task/4245 1200 and 7.
	if vol != 1200 || invol != 46 {
		t.Errorf("ReadContextSwitches = %d voluntary, %d involuntary; want 1200, 46", vol, invol)
	}
}

func TestDeltaSubtractsCountersAndKeepsGauges(t *testing.T) {
	prev := Sample{VMStat: VMStat{PswpIn: 10}, SNMP: SNMP{TCPRetransSegs: 5}, Process: &Process{MajFlt: 3, RSS: 100}}
	cur := Sample{VMStat: VMStat{PswpIn: 25}, SNMP: SNMP{TCPRetransSegs: 9}, MemInfo: MemInfo{Cached: 7}, Process: &Process{MajFlt: 4, RSS: 90}}
	w := cur.Delta(prev)
	if w.VMStat.PswpIn != 15 || w.SNMP.TCPRetransSegs != 4 || w.Process.MajFlt != 1 || w.Process.RSS != 90 || w.MemInfo.Cached != 7 {
		t.Errorf("delta = %+v, process %+v", w, *w.Process)
	}
}

func TestSamplerOnThisHost(t *testing.T) {
	if _, err := os.Stat("/proc/vmstat"); err != nil {
		t.Skip("no /proc")
	}
	s, err := New(Config{PID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if got.Process.RSS == 0 || got.MemInfo.Cached == 0 || got.VMStat.PgFault == 0 {
		t.Errorf("implausible sample of this host: %+v %+v", got, *got.Process)
	}
}

func TestReadLargestCPUCacheTakesTheLargestIndex(t *testing.T) {
	root := t.TempDir()
	for i, size := range []string{"48K\n", "2048K\n", "491520K\n", "64K\n"} {
		dir := filepath.Join(root, "devices", "system", "cpu", "cpu0", "cache", fmt.Sprintf("index%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "size"), []byte(size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadLargestCPUCache(root)
	if err != nil || got != 491520<<10 {
		t.Fatalf("ReadLargestCPUCache = %d, %v; want %d", got, err, 491520<<10)
	}
	if _, err := ReadLargestCPUCache(t.TempDir()); err == nil {
		t.Fatal("ReadLargestCPUCache of a root without caches: no error")
	}
}

func TestParseCacheSize(t *testing.T) {
	for in, want := range map[string]int64{"48K": 48 << 10, "32M\n": 32 << 20, "1G": 1 << 30, "512": 512} {
		if got, err := ParseCacheSize(in); err != nil || got != want {
			t.Errorf("ParseCacheSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "K", "-1K", "12Q"} {
		if _, err := ParseCacheSize(in); err == nil {
			t.Errorf("ParseCacheSize(%q): no error", in)
		}
	}
}
