package tuning

import (
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/brokerlab/brokerlab/internal/bytesize"
)

// ByteSize is a size in bytes that plans write as "512MiB", "2GiB", "64m"
// or a plain number.
type ByteSize int64

// ParseByteSize parses "512MiB", "2GiB", "64m" (binary, like dd), "1000kB"
// (decimal) or "4096".
func ParseByteSize(s string) (ByteSize, error) {
	b, err := bytesize.Parse(s)
	return ByteSize(b), err
}

// UnmarshalYAML accepts a number or a string with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// MarshalYAML writes the size with the largest binary unit that divides it.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

func (b ByteSize) String() string {
	for _, u := range []struct {
		s string
		m int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b != 0 && int64(b)%u.m == 0 {
			return strconv.FormatInt(int64(b)/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(int64(b), 10)
}
