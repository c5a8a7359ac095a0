// Package host changes the machine the lab runs on — sysctls, filesystems,
// loop and zram devices, swap, cgroups, I/O schedulers, blkio throttles — and
// guarantees every change is undone.
//
// Every change goes through a Session. The Session writes a journal entry
// (one JSON line, fsync'd) that says what will change and how to restore it
// BEFORE it makes the change; Restore undoes the entries in reverse order.
// Undo is idempotent: an entry whose change never happened, or was already
// undone, is skipped. A journal left behind by a crashed or SIGKILLed lab
// process is replayed by the next Open (or by `lab restore`), so the host
// returns to its state before the run even when the process could not clean
// up after itself.
//
// mkfs and mount only touch loop files and zram devices the Session created,
// or block devices the user named in Config.NamedDevices that are not
// mounted, not used as swap, not held by another device and not on the root
// disk (see CheckDevice).
//
// Example:
//
//	s, undone, err := host.Open(host.Config{Logger: logger})
//	if err != nil {
//		return err
//	}
//	report(undone) // what a previous crashed run left behind and was undone
//	defer s.Close() // restores everything and releases the journal lock
//	if err := s.SetSysctl("vm.swappiness", "1"); err != nil {
//		return err
//	}
//
// A Session is safe for concurrent use; its methods are serialised.
package host
