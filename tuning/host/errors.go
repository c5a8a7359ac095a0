package host

import (
	"errors"
	"fmt"
)

// ErrLocked is returned by Open when another live lab process holds the
// journal of the same state directory.
var ErrLocked = errors.New("journal is locked by another lab process")

// ErrClosed is returned by a Session's methods after Close.
var ErrClosed = errors.New("host session is closed")

// RefusedError is returned when the lab refuses to format or mount a device
// because doing so could destroy data that is not the lab's.
type RefusedError struct {
	// Device is the device as the caller named it.
	Device string
	// Reason says why, and what to do instead.
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refusing to touch device %s: %s", e.Device, e.Reason)
}
