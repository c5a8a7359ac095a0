package procsample

import (
	"fmt"

	"github.com/prometheus/procfs"
)

// ReadEffectiveCaps returns the effective capability set (CapEff) of this
// process, from procRoot/self/status.
func ReadEffectiveCaps(procRoot string) (uint64, error) {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return 0, fmt.Errorf("opening procfs %s: %w", procRoot, err)
	}
	p, err := fs.Self()
	if err != nil {
		return 0, fmt.Errorf("reading %s/self: %w", procRoot, err)
	}
	st, err := p.NewStatus()
	if err != nil {
		return 0, fmt.Errorf("reading %s/self/status: %w", procRoot, err)
	}
	return st.CapEff, nil
}
