// Package fsutil holds the small file helpers the broker's logs and the
// lab share: fsync a directory after a create, rename or unlink in it,
// write a file whole with an fsync before close, and have a function
// write a new file that is closed whatever it returns.
package fsutil

import (
	"fmt"
	"os"
)

// SyncDir fsyncs a directory so that creates, renames and unlinks in it are
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// WriteFileWith creates path (or truncates it), hands the file to write
// and closes it, whether write fails or not. It returns write's error,
// else the close's; a file write failed to fill is left in place.
func WriteFileWith(path string, write func(f *os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteFileSync writes data to path (created or truncated) and fsyncs it
// before closing. It does not sync the directory: a new file's name is
// durable only after SyncDir of its parent.
func WriteFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", path, err)
	}
	return nil
}
