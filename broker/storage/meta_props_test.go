package storage

import (
	"bytes"

	"github.com/brokerlab/brokerlab/internal/properties"
)

// parseProperties reads meta.properties text for the format tests.
func parseProperties(data []byte) map[string]string {
	m, err := properties.Map(bytes.NewReader(data))
	if err != nil {
		panic(err)
	}
	return m
}
