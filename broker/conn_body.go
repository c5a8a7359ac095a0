package broker

import (
	"reflect"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Who owns a request body's bytes. kmsg decodes byte fields (and, with
// UnsafeReadFrom, strings) as sub-slices of the body, and a connection
// reuses its body memory as soon as the response is written (conn.go). So
// each API is decoded according to what its handler keeps:
//
//   - bodyInPlace: the request type has no byte fields; it is decoded where
//     it lies with strings copied, and keeps nothing of the body.
//   - bodyBorrowed: audited handlers that keep nothing of the request past
//     their response (Produce: storage.Partition.Append writes the batches
//     to the segment before it returns; Fetch: topic names are only looked
//     up and echoed in the response). Strings and bytes share the body.
//   - bodyCopied: anything else with byte fields (JoinGroup member
//     metadata, SyncGroup assignments): decoded from a private copy that the
//     garbage collector owns, so a handler may keep what it likes.
//
// The classification is by reflection over kmsg's request types, so a new
// API whose request carries bytes is copied without anyone remembering to
// list it. TestBodyOwnership poisons every released body and checks that
// what was produced, committed and joined reads back intact.
type bodyUse uint8

const (
	bodyInPlace bodyUse = iota
	bodyBorrowed
	bodyCopied
)

// borrowedKeys are the APIs whose handlers are audited to keep nothing of
// the request body; see the comment above.
var borrowedKeys = []kmsg.Key{kmsg.Produce, kmsg.Fetch}

var bodyUses = sync.OnceValue(func() (uses [256]bodyUse) {
	for key := range int16(len(uses)) {
		req := kmsg.RequestForKey(key)
		if req == nil {
			continue
		}
		if hasBytes(reflect.TypeOf(req), map[reflect.Type]bool{}) {
			uses[key] = bodyCopied
		}
	}
	for _, k := range borrowedKeys {
		uses[k.Int16()] = bodyBorrowed
	}
	return uses
})

func useOf(key int16) bodyUse {
	if key < 0 || int(key) >= len(bodyUses()) {
		return bodyCopied
	}
	return bodyUses()[key]
}

var tagsType = reflect.TypeOf(kmsg.Tags{})

// hasBytes reports whether t holds a []byte anywhere, unknown tagged fields
// aside (no handler reads them).
func hasBytes(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] || t == tagsType {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Array:
		return hasBytes(t.Elem(), seen)
	case reflect.Slice:
		return t.Elem().Kind() == reflect.Uint8 || hasBytes(t.Elem(), seen)
	case reflect.Map:
		return hasBytes(t.Key(), seen) || hasBytes(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if hasBytes(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}
