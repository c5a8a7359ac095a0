package host

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// AttachLoop journals and attaches a loop device to file, which must be a
// file this session created (CreateFile). It returns the device
// ("/dev/loop3"), which then passes CheckDevice.
func (s *Session) AttachLoop(file string) (string, error) {
	return s.attachLoop(file, false)
}

// AttachLoopDirectIO is AttachLoop with the loop device's direct I/O on
// (losetup --direct-io=on): its writes bypass the backing file's page
// cache, so the file holds exactly what the device was sent, as a disk
// would.
func (s *Session) AttachLoopDirectIO(file string) (string, error) {
	return s.attachLoop(file, true)
}

func (s *Session) attachLoop(file string, directIO bool) (string, error) {
	file = filepath.Clean(file)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.createdFile(file) {
		return "", &RefusedError{Device: file, Reason: "the lab attaches loop devices only to files it created in this session (CreateFile)"}
	}
	e, err := s.record(Entry{Kind: KindLoop, Target: file,
		Undo: "detach every loop device whose backing file is " + file})
	if err != nil {
		return "", err
	}
	args := []string{"--find", "--show", file}
	if directIO {
		args = append([]string{"--direct-io=on"}, args...)
	}
	dev, err := output("losetup", args...)
	if err != nil {
		return "", fmt.Errorf("attaching a loop device to %s: %w", file, err)
	}
	s.created[dev] = true
	if err := s.update(&e, "", dev, nil); err != nil {
		return dev, err
	}
	return dev, nil
}

func (s *Session) createdFile(path string) bool {
	for _, e := range s.j.pending {
		if e.Kind == KindFile && e.Target == path {
			return true
		}
	}
	return false
}

// loopDevicesOn lists the loop devices (/dev/loopN) whose backing file is
// file, from <sysRoot>/block/loop*/loop/backing_file.
func loopDevicesOn(sysRoot, file string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(sysRoot, "block", "loop*", "loop", "backing_file"))
	if err != nil {
		return nil, err
	}
	var devs []string
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			continue // detached meanwhile
		}
		bf := strings.TrimSuffix(strings.TrimRight(string(b), "\n"), " (deleted)")
		if bf == file {
			devs = append(devs, "/dev/"+filepath.Base(filepath.Dir(filepath.Dir(m))))
		}
	}
	return devs, nil
}
