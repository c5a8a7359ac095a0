package broker

import (
	"io"

	"github.com/brokerlab/brokerlab/internal/properties"
)

// Property is one key=value entry of server.properties, with the line it
// started on (for error messages).
type Property = properties.Property

// ParseProperties reads server.properties the way Kafka does
// (java.util.Properties.load), with the project's one properties parser.
func ParseProperties(r io.Reader) ([]Property, error) { return properties.Parse(r) }
