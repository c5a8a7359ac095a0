package bpf

import "errors"

// ErrUnknownFamily is returned for a family name that is not one of Families().
var ErrUnknownFamily = errors.New("unknown probe family")

// ErrNotLoaded is returned by Probes.Err for a family that was not asked for.
var ErrNotLoaded = errors.New("probe family not loaded")
