package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression codecs of a batch's attributes (Kafka's CompressionType ids).
const (
	codecGzip   = 1
	codecSnappy = 2
	codecLz4    = 3
	codecZstd   = 4
)

// errDecompressedTooLarge is wrapped when a batch's records decompress to
// more than the store's MaxDecompressedBytes.
var errDecompressedTooLarge = errors.New("records decompress to more than the bound")

// decompressor decompresses batch records and stops at max bytes of
// output, so that a small batch that expands enormously (a compression
// bomb) costs at most max bytes of memory and the CPU to produce them. It
// is safe for concurrent use.
type decompressor struct {
	max  int
	gzip sync.Pool // *gzip.Reader
	lz4  sync.Pool // *lz4.Reader
	zstd sync.Pool // *zstd.Decoder
	bufs sync.Pool // *bytes.Buffer
}

func newDecompressor(limit int) *decompressor {
	d := &decompressor{max: limit}
	d.zstd.New = func() any {
		// The window (history buffer) a frame may ask for is bounded too,
		// at least zstd's minimum window.
		dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(uint64(limit)), zstd.WithDecoderMaxWindow(uint64(max(limit, zstd.MinWindowSize))))
		return dec
	}
	return d
}

// decompress returns the decompressed records of a batch with codec.
// Output over d.max wraps errDecompressedTooLarge; any other failure is
// corrupt input.
func (d *decompressor) decompress(src []byte, codec int16) ([]byte, error) {
	switch codec {
	case codecGzip:
		r := pooled(&d.gzip, func() *gzip.Reader { return new(gzip.Reader) })
		defer d.gzip.Put(r)
		if err := r.Reset(bytes.NewReader(src)); err != nil {
			return nil, err
		}
		return d.readBounded(r)
	case codecLz4:
		r := pooled(&d.lz4, func() *lz4.Reader { return lz4.NewReader(nil) })
		defer d.lz4.Put(r)
		r.Reset(bytes.NewReader(src))
		return d.readBounded(r)
	case codecSnappy:
		return d.snappy(src)
	case codecZstd:
		dec := d.zstd.Get().(*zstd.Decoder)
		defer d.zstd.Put(dec)
		if err := dec.Reset(bytes.NewReader(src)); err != nil {
			return nil, err
		}
		out, err := d.readBounded(dec)
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
			return nil, fmt.Errorf("zstd: %w: %w", errDecompressedTooLarge, err)
		}
		return out, err
	}
	return nil, fmt.Errorf("unknown compression codec %d", codec)
}

// pooled returns an item of p, or fresh's when p has none.
func pooled[T any](p *sync.Pool, fresh func() T) T {
	if v, ok := p.Get().(T); ok {
		return v
	}
	return fresh()
}

// readBounded reads r to its end, or fails once it has produced more
// than d.max bytes. The buffer doubles from 64 KiB but never past d.max+1,
// so a bomb costs about 3*d.max bytes of allocation plus the codec's state.
func (d *decompressor) readBounded(r io.Reader) ([]byte, error) {
	buf := make([]byte, 0, min(64<<10, d.max+1))
	for {
		if len(buf) == cap(buf) {
			if len(buf) > d.max {
				return nil, errDecompressedTooLarge
			}
			nb := make([]byte, len(buf), min(2*cap(buf), d.max+1))
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if len(buf) > d.max {
				return nil, errDecompressedTooLarge
			}
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// xerialMagic starts the framing of the Java producer's snappy stream
// (snappy-java's SnappyOutputStream): 8 magic bytes, two int32 versions,
// then blocks of int32 length + raw snappy.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// snappy decodes raw snappy or xerial-framed blocks; every block's
// declared length is added up and checked before anything is allocated.
func (d *decompressor) snappy(src []byte) ([]byte, error) {
	var blocks [][]byte
	if len(src) > 16 && bytes.HasPrefix(src, xerialMagic) {
		for rest := src[16:]; len(rest) > 0; {
			if len(rest) < 4 {
				return nil, errors.New("snappy: truncated xerial block length")
			}
			n := binary.BigEndian.Uint32(rest)
			rest = rest[4:]
			if uint64(n) > uint64(len(rest)) {
				return nil, errors.New("snappy: xerial block longer than the data")
			}
			blocks = append(blocks, rest[:n])
			rest = rest[n:]
		}
	} else {
		blocks = [][]byte{src}
	}
	total := 0
	for _, b := range blocks {
		n, err := s2.DecodedLen(b)
		if err != nil {
			return nil, err
		}
		if total += n; total > d.max {
			return nil, errDecompressedTooLarge
		}
	}
	out := make([]byte, total)
	pos := 0
	for _, b := range blocks {
		n, _ := s2.DecodedLen(b)
		if _, err := s2.Decode(out[pos:pos+n], b); err != nil {
			return nil, err
		}
		pos += n
	}
	return out, nil
}
