package storage

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by operations on a closed Store, or on a
	// partition whose topic was deleted.
	ErrClosed = errors.New("storage closed")
	// errDirLocked is wrapped when a log dir's .lock is held by another
	// process.
	errDirLocked = errors.New("log dir locked")
	// ErrInconsistentClusterID is wrapped by ClusterIDMismatchError and
	// NodeIDMismatchError: Kafka's InconsistentClusterIdException.
	ErrInconsistentClusterID = errors.New("inconsistent cluster id")
)

// ClusterIDMismatchError says that a log dir's meta.properties belongs to
// another cluster than the other dirs (or than the configured cluster id).
type ClusterIDMismatchError struct {
	Path      string // the meta.properties that disagrees
	Stored    string // its cluster.id
	OtherPath string // the meta.properties it was compared with; empty: the configuration
	Other     string // the other cluster.id
}

func (e *ClusterIDMismatchError) Error() string {
	if e.OtherPath == "" {
		return fmt.Sprintf("the cluster.id %s stored in %s does not match the configured cluster id %s: "+
			"this log dir belongs to another cluster. Point log.dirs at this cluster's directories, or, "+
			"if the data in it is not needed, delete %s (or the whole directory) and restart",
			e.Stored, e.Path, e.Other, e.Path)
	}
	return fmt.Sprintf("the cluster.id %s stored in %s does not match the cluster.id %s stored in %s: "+
		"these log dirs come from different clusters. Remove the directory that does not belong to this "+
		"broker from log.dirs, or, if its data is not needed, delete its meta.properties (or the whole "+
		"directory) and restart", e.Stored, e.Path, e.Other, e.OtherPath)
}

func (e *ClusterIDMismatchError) Unwrap() error { return ErrInconsistentClusterID }

// NodeIDMismatchError says that a log dir's meta.properties was written by
// a broker with another node.id.
type NodeIDMismatchError struct {
	Path       string
	Stored     int32
	Configured int32
}

func (e *NodeIDMismatchError) Error() string {
	return fmt.Sprintf("the node.id %d stored in %s does not match the configured node.id %d: "+
		"if you moved this data from another broker, set node.id=%d in the configuration; if you mean to "+
		"start a new broker, use empty log dirs or delete %s and the data next to it",
		e.Stored, e.Path, e.Configured, e.Stored, e.Path)
}

func (e *NodeIDMismatchError) Unwrap() error { return ErrInconsistentClusterID }
