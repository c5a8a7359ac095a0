package host

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// The sysctl the privileged tests change. It is harmless (how old dirty
// data must be before writeback picks it up) and no other package's tests
// touch it.
const testSysctl = "vm.dirty_expire_centisecs"

// childEnv makes the test binary act as a lab process that journals and
// applies changes, then waits to be killed (TestJournalChild).
const childEnv = "LAB_HOST_TEST_CHILD"

// hostSnapshot is what the restore must bring back.
type hostSnapshot struct {
	sysctl  string
	mounts  []string
	cgroups []string
}

func snapshot(t *testing.T, cgroupName string) hostSnapshot {
	t.Helper()
	var h hostSnapshot
	var err error
	if h.sysctl, err = ReadSysctl("/proc", testSysctl); err != nil {
		t.Fatal(err)
	}
	mounts, err := readMounts("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mounts {
		h.mounts = append(h.mounts, m.MountPoint+" "+m.Source)
	}
	for _, c := range []string{"memory", "blkio"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c, cgroupName)); err == nil {
			h.cgroups = append(h.cgroups, c+"/"+cgroupName)
		}
	}
	slices.Sort(h.mounts)
	return h
}

// restoreSysctlOnCleanup puts testSysctl back whatever happens.
func restoreSysctlOnCleanup(t *testing.T) {
	t.Helper()
	orig, err := ReadSysctl("/proc", testSysctl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p, _ := SysctlPath("/proc", testSysctl)
		if cur, _ := readValue(p); cur != orig {
			if err := writeValue(p, orig); err != nil {
				t.Errorf("restoring %s: %v", testSysctl, err)
			}
		}
	})
}

func TestJournalRestoresTheHostAfterSIGKILL(t *testing.T) {
	testutil.RequirePrivileged(t, "sysctl writes, loop devices, mkfs, mount, zram and cgroups")
	testutil.RequireCommand(t, "losetup", "apt-get install mount")
	testutil.RequireCommand(t, "mkfs.ext4", "apt-get install e2fsprogs")
	if _, err := os.Stat("/sys/class/zram-control"); err != nil {
		testutil.Unavailable(t, "zram is not available (modprobe zram): %v", err)
	}
	restoreSysctlOnCleanup(t)
	state := t.TempDir()
	work := t.TempDir()
	cgName := fmt.Sprintf("brokerlab-test-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	// Whatever happens, leave nothing behind.
	t.Cleanup(func() {
		if undone, err := Restore(Config{StateDir: state}); err != nil {
			t.Errorf("cleanup restore: %v (undone %v)", err, undone)
		}
	})
	before := snapshot(t, cgName)

	cmd := exec.Command(os.Args[0], "-test.run=^TestJournalChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1", "LAB_TEST_STATE="+state, "LAB_TEST_WORK="+work, "LAB_TEST_CGROUP="+cgName)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	var lines []string
	go func() { // ends when the child's stdout closes (it is killed below)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.HasPrefix(sc.Text(), "READY ") {
				ready <- strings.TrimPrefix(sc.Text(), "READY ")
			}
		}
		close(ready)
	}()
	var info string
	select {
	case s, ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatalf("child exited before it was ready:\n%s", strings.Join(lines, "\n"))
		}
		info = s
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child not ready within 60s:\n%s", strings.Join(lines, "\n"))
	}
	// The changes are in place: the test can tell a restored host from one
	// that is not. (Checked by name: other packages' tests may add and
	// remove their own devices meanwhile.)
	mid := snapshot(t, cgName)
	if mid.sysctl == before.sysctl {
		t.Errorf("child did not change %s", testSysctl)
	}
	fields := map[string]string{}
	for _, f := range strings.Fields(info) {
		if k, v, ok := strings.Cut(f, "="); ok {
			fields[k] = v
		}
	}
	if devs, _ := loopDevicesOn("/sys", filepath.Join(work, "disk.img")); len(devs) != 1 || devs[0] != fields["loop"] {
		t.Errorf("loop device on the child's file: %v, want %s", devs, fields["loop"])
	}
	if !slices.ContainsFunc(mid.mounts, func(m string) bool { return strings.HasPrefix(m, filepath.Join(work, "mnt")+" ") }) {
		t.Errorf("child's mount of %s not visible", filepath.Join(work, "mnt"))
	}
	if _, err := os.Stat("/sys/block/" + filepath.Base(fields["zram"])); err != nil {
		t.Errorf("child's zram device %s: %v", fields["zram"], err)
	}
	if len(mid.cgroups) != 2 {
		t.Errorf("child's cgroups: %v, want memory and blkio", mid.cgroups)
	}
	t.Logf("child: %s", info)

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	undone, err := Restore(Config{StateDir: state})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	kinds := map[Kind]int{}
	for _, u := range undone {
		t.Logf("%s", u)
		if u.Action == "undone" {
			kinds[u.Entry.Kind]++
		}
	}
	for _, k := range []Kind{KindSysctl, KindMount, KindLoop, KindZram, KindCgroup, KindFile, KindProcess, KindScheduler} {
		if kinds[k] == 0 {
			t.Errorf("no %s change was undone", k)
		}
	}
	after := snapshot(t, cgName)
	if after.sysctl != before.sysctl {
		t.Errorf("%s = %s after restore, want %s", testSysctl, after.sysctl, before.sysctl)
	}
	if devs, _ := loopDevicesOn("/sys", filepath.Join(work, "disk.img")); len(devs) != 0 {
		t.Errorf("loop devices still on the child's file: %v", devs)
	}
	if slices.ContainsFunc(after.mounts, func(m string) bool { return strings.HasPrefix(m, work) }) {
		t.Errorf("still mounted under %s after restore", work)
	}
	if _, err := os.Stat("/sys/block/" + filepath.Base(fields["zram"])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("zram device %s still there after restore: %v", fields["zram"], err)
	}
	if len(after.cgroups) != 0 {
		t.Errorf("cgroups still there after restore: %v", after.cgroups)
	}
	if pid, _ := strconv.Atoi(fields["sleeper"]); pid > 0 {
		if _, zombie, err := procStat("/proc", pid); err == nil && !zombie {
			t.Errorf("the child's process %d survived the restore", pid)
		}
	}
	if _, err := os.Stat(filepath.Join(work, "disk.img")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("loop file still exists after restore: %v", err)
	}
}

// TestJournalChild is the lab process TestJournalRestoresTheHostAfterSIGKILL
// kills; it does nothing unless started by it.
func TestJournalChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("helper process for TestJournalRestoresTheHostAfterSIGKILL")
	}
	must := func(err error) {
		if err != nil {
			fmt.Println("ERROR", err)
			os.Exit(3)
		}
	}
	work := os.Getenv("LAB_TEST_WORK")
	s, _, err := Open(Config{StateDir: os.Getenv("LAB_TEST_STATE")})
	must(err)
	cur, err := s.Sysctl(testSysctl)
	must(err)
	n, _ := strconv.Atoi(cur)
	must(s.SetSysctl(testSysctl, strconv.Itoa(n+7)))

	img := filepath.Join(work, "disk.img")
	must(s.CreateFile(img, 64<<20, false))
	dev, err := s.AttachLoop(img)
	must(err)
	must(s.Mkfs(dev, "ext4", nil))
	mnt := filepath.Join(work, "mnt")
	must(s.MakeDir(mnt, false))
	must(s.Mount(dev, mnt, "ext4", []string{"noatime"}))
	must(os.WriteFile(filepath.Join(mnt, "data"), []byte("hello"), 0o644))
	must(s.SetScheduler(dev, "mq-deadline"))

	zdev, err := s.AddZram(32<<20, "")
	must(err)
	must(s.Mkfs(zdev, "ext4", nil))
	zmnt := filepath.Join(work, "zmnt")
	must(s.MakeDir(zmnt, false))
	must(s.Mount(zdev, zmnt, "ext4", nil))

	cg, err := s.CreateCgroup(os.Getenv("LAB_TEST_CGROUP"), "memory", "blkio")
	must(err)
	must(cg.SetMemoryLimit(256 << 20))
	must(cg.Throttle(dev, Throttle{WriteBPS: 10 << 20}))
	// A stand-in for the broker: a process in the cgroup with its working
	// directory on the mount (it keeps the mount busy until it is killed).
	sleeper := exec.Command("sleep", "600")
	sleeper.Dir = mnt
	must(sleeper.Start())
	must(s.TrackProcess(sleeper.Process.Pid))
	must(cg.AddProcess(sleeper.Process.Pid))

	fmt.Printf("READY loop=%s zram=%s sleeper=%d\n", dev, zdev, sleeper.Process.Pid)
	time.Sleep(10 * time.Minute) // wait for SIGKILL
}

func TestRestoreOfDirtyBytesBringsBackTheRatio(t *testing.T) {
	testutil.RequirePrivileged(t, "writing vm.dirty_bytes and vm.dirty_ratio")
	ratio, err := ReadSysctl("/proc", "vm.dirty_ratio")
	if err != nil {
		t.Fatal(err)
	}
	if bytes, _ := ReadSysctl("/proc", "vm.dirty_bytes"); !sameValue(bytes, "0") {
		t.Skipf("this host runs with vm.dirty_bytes=%s set; the test starts from ratio mode", bytes)
	}
	s := openSession(t, Config{ProcRoot: "/proc"})
	// The kernel zeroes vm.dirty_ratio when vm.dirty_bytes is written and
	// refuses to write 0 back to vm.dirty_bytes: the undo must write the
	// ratio instead.
	if err := s.SetSysctl("vm.dirty_bytes", "268435456"); err != nil {
		t.Fatal(err)
	}
	if got, _ := ReadSysctl("/proc", "vm.dirty_ratio"); !sameValue(got, "0") {
		t.Fatalf("vm.dirty_ratio = %s after setting vm.dirty_bytes; the kernel did not switch modes", got)
	}
	if _, err := s.Restore(); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got, _ := ReadSysctl("/proc", "vm.dirty_ratio"); !sameValue(got, ratio) {
		t.Errorf("vm.dirty_ratio = %s after restore, want %s", got, ratio)
	}
	if got, _ := ReadSysctl("/proc", "vm.dirty_bytes"); !sameValue(got, "0") {
		t.Errorf("vm.dirty_bytes = %s after restore, want 0", got)
	}
}
