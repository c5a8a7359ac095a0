package bpf

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// readMemcgs adds the swap family's per-memcg counters (label memcg=ID, the
// inode number of the memcg's cgroup directory).
func readMemcgs(coll *ebpf.Collection, l *loaded, s *Snapshot) error {
	m := coll.Maps["memcgs"]
	var (
		key uint64
		val swapMemcgSwap
	)
	it := m.Iterate()
	for it.Next(&key, &val) {
		label := "memcg=" + strconv.FormatUint(key, 10)
		s.Counters = append(s.Counters,
			Counter{Family: FamilySwap, Name: "memcg_swapin_pages", Label: label, Method: mPswpin, Unit: UnitPages, Value: val.Swapin},
			Counter{Family: FamilySwap, Name: "memcg_swapout_pages", Label: label, Method: mPswpout, Unit: UnitPages, Value: val.Swapout},
		)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterating memcgs: %w", err)
	}
	return nil
}

// readDropReasons adds the sockbuf family's drops by reason (label
// reason=NAME from the kernel's enum skb_drop_reason).
func readDropReasons(coll *ebpf.Collection, l *loaded, s *Snapshot) error {
	m := coll.Maps["drop_reasons"]
	keys := make([]uint32, m.MaxEntries())
	vals := make([]uint64, m.MaxEntries())
	var cursor ebpf.MapBatchCursor
	n, err := m.BatchLookup(&cursor, keys, vals, nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("reading drop reasons: %w", err)
	}
	for i := range n {
		name, ok := l.dropNames[keys[i]]
		if !ok {
			name = strconv.FormatUint(uint64(keys[i]), 10)
		}
		s.Counters = append(s.Counters, Counter{Family: FamilySockBuf, Name: "drops_by_reason", Label: "reason=" + name, Method: mKfreeSkb, Unit: UnitEvents, Value: vals[i]})
	}
	return nil
}

// dropReasonNames reads enum skb_drop_reason from the kernel's BTF: values
// differ between kernel versions.
func dropReasonNames() map[uint32]string {
	out := map[uint32]string{}
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return out
	}
	var e *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &e); err != nil {
		return out
	}
	for _, v := range e.Values {
		out[uint32(v.Value)] = v.Name
	}
	return out
}
