package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// procStartTime returns field 22 of /proc/<pid>/stat (start time in clock
// ticks since boot) and whether the process is a zombie.
func procStat(procRoot string, pid int) (start string, zombie bool, err error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", false, err
	}
	// The command name (field 2) may hold spaces and parentheses: split
	// after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", false, fmt.Errorf("parsing /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return "", false, fmt.Errorf("parsing /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return f[19], f[0] == "Z" || f[0] == "X", nil
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
