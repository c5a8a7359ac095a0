package loadgen

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
)

// Every record value starts with a 16-byte header that the consumers read
// back: bytes 0..7 are the intended send time in nanoseconds since the run's
// monotonic start (big endian), bytes 8..15 the run's random tag, so records
// from another run or tool in the same topic are told apart. Producer and
// consumer live in one process, so the two times come from one monotonic
// clock and end-to-end latency needs no clock sync.
const headerSize = 16

func putHeader(b []byte, intendedNs int64, tag uint64) {
	binary.BigEndian.PutUint64(b[0:8], uint64(intendedNs))
	binary.BigEndian.PutUint64(b[8:16], tag)
}

// readHeader returns the intended send time, or ok=false when b is not one
// of this run's records.
func readHeader(b []byte, tag uint64) (intendedNs int64, ok bool) {
	if len(b) < headerSize || binary.BigEndian.Uint64(b[8:16]) != tag {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b[0:8])), true
}

// payloads is the pool of value templates a run cycles through.
type payloads [][]byte

// makePayloads builds the pool for w: the payload file's bytes, or
// RandomizedPayloadPoolSize payloads with RandomBytesRatio random bytes
// (spread over the payload, the rest zero), or one zero payload.
func makePayloads(w *Workload, rng *rand.Rand) (payloads, error) {
	size := w.MessageSize
	if w.PayloadFile != "" {
		data, err := os.ReadFile(w.PayloadFile)
		if err != nil {
			return nil, fmt.Errorf("reading payload file: %w", err)
		}
		if len(data) == 0 {
			return nil, fmt.Errorf("payload file %s is empty: give a file with data or drop payloadFile", w.PayloadFile)
		}
		p := make([]byte, size)
		for i := 0; i < size; i += len(data) {
			copy(p[i:], data)
		}
		return payloads{p}, nil
	}
	if w.RandomBytesRatio <= 0 && !w.UseRandomizedPayloads {
		return payloads{make([]byte, size)}, nil
	}
	ratio := w.RandomBytesRatio
	if ratio == 0 {
		ratio = 1 // useRandomizedPayloads without a ratio: fully random (OMB)
	}
	pool := make(payloads, w.RandomizedPayloadPoolSize)
	for i := range pool {
		p := make([]byte, size)
		n := int(float64(size) * ratio)
		for j := 0; j < n; j++ {
			p[rng.IntN(size)] = byte(rng.IntN(255) + 1)
		}
		pool[i] = p
	}
	return pool, nil
}

// keyPool is the fixed key set of KEY_ROUND_ROBIN and RANDOM_NANO: OMB uses
// 10,000 random keys (KeyDistributor.UNIQUE_COUNT).
const keyPool = 10000

// keyer chooses record keys; each producer goroutine has its own.
type keyer struct {
	kind string
	keys [][]byte
	i    int
	rng  *rand.Rand
}

func newKeyer(kind string, rng *rand.Rand) *keyer {
	k := &keyer{kind: kind, rng: rng}
	if kind != KeyNone {
		k.keys = make([][]byte, keyPool)
		for i := range k.keys {
			k.keys[i] = []byte(strconv.FormatUint(rng.Uint64(), 36))
		}
		k.i = rng.IntN(keyPool)
	}
	return k
}

func (k *keyer) next() []byte {
	switch k.kind {
	case KeyRoundRobin:
		k.i = (k.i + 1) % len(k.keys)
		return k.keys[k.i]
	case KeyRandomNano:
		return k.keys[k.rng.IntN(len(k.keys))]
	}
	return nil
}
