package storage

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/brokerlab/brokerlab/internal/fsutil"
)

// fdatasync flushes f's data (and the metadata needed to read it back, such
// as its size) with fdatasync(2), retrying on EINTR.
func fdatasync(f *os.File) error {
	if err := retryEINTR(f, unix.Fdatasync); err != nil {
		return fmt.Errorf("fdatasync %s: %w", f.Name(), err)
	}
	return nil
}

// retryEINTR calls call with f's descriptor until it fails with anything
// but EINTR, and returns that.
func retryEINTR(f *os.File, call func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			cerr = call(int(fd))
			if cerr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return cerr
}

// writeFileAtomic writes data to path through a temporary file, fsync and
// rename, then fsyncs the directory: readers see the old or the new
// content, never a mix.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return fsutil.SyncDir(filepath.Dir(path))
}

// syncParallelism bounds the fsyncs writeFilesAtomic and syncEachDir have in
// flight. ext4 and XFS commit concurrent fsyncs in one journal transaction,
// so N files synced 16 at a time cost about N/16 commits instead of N; each
// blocking fsync holds an OS thread, which the bound keeps few.
const syncParallelism = 16

// writeFilesAtomic is writeFileAtomic for many files at once, with the same
// guarantee per file (the old or the new content, never a mix) at a fraction
// of the syncs: every temporary file is written and fsync'd (in parallel),
// then all are renamed, then each directory that holds one is fsync'd once
// (in parallel). data[i] goes to paths[i]. On an error the temporary files
// are removed; files already renamed stay.
func writeFilesAtomic(paths []string, data [][]byte) error {
	var g errgroup.Group
	g.SetLimit(syncParallelism)
	for i, path := range paths {
		g.Go(func() error {
			tmp := path + ".tmp"
			f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return fmt.Errorf("writing %s: %w", path, err)
			}
			_, err = f.Write(data[i])
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("writing %s: %w", path, err)
			}
			return nil
		})
	}
	err := g.Wait()
	var dirs []string
	seen := map[string]bool{}
	for _, path := range paths {
		if err == nil {
			if err = os.Rename(path+".tmp", path); err != nil {
				err = fmt.Errorf("writing %s: %w", path, err)
			}
		}
		if err != nil {
			os.Remove(path + ".tmp")
			continue
		}
		if d := filepath.Dir(path); !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	if err != nil {
		return err
	}
	return syncEachDir(dirs)
}

// syncEachDir fsyncs every directory in dirs, in parallel.
func syncEachDir(dirs []string) error {
	var g errgroup.Group
	g.SetLimit(syncParallelism)
	for _, d := range dirs {
		g.Go(func() error { return fsutil.SyncDir(d) })
	}
	return g.Wait()
}
