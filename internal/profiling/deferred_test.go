package profiling

import (
	"context"
	"testing"
	"time"
)

func TestDeferredNeverStarted(t *testing.T) {
	// Nothing listens at base: a Deferred that is never started never
	// reads it.
	d := Defer(context.Background(), "http://127.0.0.1:1", t.TempDir(), "run", []Kind{CPU}, time.Second)
	if files, err := d.Wait(false); err == nil || files != nil {
		t.Errorf("Wait without Start = %v, %v; want an error saying no measured window began", files, err)
	}
	d = Defer(context.Background(), "http://127.0.0.1:1", t.TempDir(), "run", []Kind{CPU}, time.Second)
	if files, err := d.Wait(true); err != nil || files != nil {
		t.Errorf("aborted Wait without Start = %v, %v; want nothing and no error", files, err)
	}
	var none *Deferred
	if files, err := none.Wait(false); err != nil || files != nil {
		t.Errorf("nil Deferred Wait = %v, %v; want nothing", files, err)
	}
}

func TestFileNameKeepsSafeCharacters(t *testing.T) {
	if got, want := fileName("50% of max/c01-r2.x"), "50__of_max_c01-r2.x"; got != want {
		t.Errorf("fileName = %q, want %q", got, want)
	}
}
