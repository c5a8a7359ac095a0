package host

import (
	"testing"
)

// FuzzParseJournal: a journal torn or corrupted anywhere must never panic
// the restore, and whatever parses must fold into changes consistently.
func FuzzParseJournal(f *testing.F) {
	f.Add([]byte(`{"seq":1,"op":"change","kind":"sysctl","target":"/proc/sys/vm/swappiness","old":"60","new":"1"}
{"seq":2,"op":"change","kind":"zram"}
{"seq":3,"op":"update","ref":2,"target":"zram1","new":"/dev/zram1"}
{"seq":4,"op":"undone","ref":1}
`))
	f.Add([]byte(`{"seq":1,"op":"change","kind":"file","target":"/x"}` + "\n" + `{"seq":2,"op":"cha`))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseJournal(data)
		if err != nil {
			return
		}
		pending := pendingChanges(entries)
		if len(pending) > len(entries) {
			t.Fatalf("%d pending changes from %d lines", len(pending), len(entries))
		}
		for _, p := range pending {
			if p.Op != OpChange {
				t.Fatalf("pending entry with op %q", p.Op)
			}
		}
	})
}
