package host

import (
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/brokerlab/brokerlab/procsample"
)

// TrackProcess journals a process the lab started (the broker), so a
// restore after a crash kills it if it is still running: it may hold files
// open on a mount the restore must remove. Journal it right after starting
// the process; the identity check uses the process's start time, so a
// recycled pid is never killed.
func (s *Session) TrackProcess(pid int) error {
	st, err := procStartTime(s.cfg.ProcRoot, pid)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err = s.record(Entry{Kind: KindProcess, Target: strconv.Itoa(pid),
		Attrs: map[string]string{"starttime": st},
		Undo:  fmt.Sprintf("kill pid %d if it still has start time %s", pid, st)})
	return err
}

// procStat returns the process's start time (procsample.ReadStartTime) as
// the journal writes it and whether the process is a zombie.
func procStat(procRoot string, pid int) (start string, zombie bool, err error) {
	st, zombie, err := procsample.ReadStartTime(procRoot, pid)
	if err != nil {
		return "", false, err
	}
	return strconv.FormatUint(st, 10), zombie, nil
}

func procStartTime(procRoot string, pid int) (string, error) {
	st, _, err := procStat(procRoot, pid)
	if err != nil {
		return "", fmt.Errorf("reading start time of pid %d: %w", pid, err)
	}
	return st, nil
}

func undoProcess(procRoot string, e Entry) (string, string, error) {
	pid, err := strconv.Atoi(e.Target)
	if err != nil {
		return "", "", fmt.Errorf("pid %q: %w", e.Target, err)
	}
	alive := func() bool {
		st, zombie, err := procStat(procRoot, pid)
		return err == nil && !zombie && st == e.Attrs["starttime"]
	}
	if !alive() {
		return "skipped", fmt.Sprintf("pid %d is not running", pid), nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return "", "", fmt.Errorf("killing pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive() {
		if time.Now().After(deadline) {
			return "", "", fmt.Errorf("pid %d still running 5s after SIGKILL", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "undone", fmt.Sprintf("killed pid %d", pid), nil
}
