package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileSyncReplacesAndSyncDirSyncs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	for _, content := range []string{"a longer first content", "short"} {
		if err := WriteFileSync(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != content {
			t.Fatalf("read back %q, %v; want %q", got, err, content)
		}
	}
	if err := SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("SyncDir of a missing directory succeeded")
	}
	if err := WriteFileSync(filepath.Join(dir, "missing", "f"), nil); err == nil {
		t.Fatal("WriteFileSync into a missing directory succeeded")
	}
}

func TestWriteFileWithReturnsWritesErrorElseTheClose(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFileWith(path, func(f *os.File) error { _, err := f.WriteString("content"); return err }); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "content" {
		t.Fatalf("read back %q, %v; want %q", got, err, "content")
	}
	failed := errors.New("write failed")
	var kept *os.File
	if err := WriteFileWith(path, func(f *os.File) error { kept = f; return failed }); !errors.Is(err, failed) {
		t.Fatalf("err = %v, want write's error", err)
	}
	if err := kept.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("closing the file again: %v, want os.ErrClosed (WriteFileWith closes it when write fails)", err)
	}
	if err := WriteFileWith(filepath.Join(dir, "missing", "f"), func(*os.File) error { return nil }); err == nil {
		t.Fatal("WriteFileWith into a missing directory succeeded")
	}
}
