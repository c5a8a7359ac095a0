package fsutil

import (
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
