package procsample

import (
	"fmt"

	"github.com/prometheus/procfs"
)

// ReadEffectiveCaps returns the effective capability set (CapEff) of this
// process, from procRoot/self/status.
func ReadEffectiveCaps(procRoot string) (uint64, error) {
	p, err := readProcFS(procRoot, fmt.Sprintf("reading %s/self", procRoot), procfs.FS.Self)
	if err != nil {
		return 0, err
	}
	st, err := p.NewStatus()
	if err != nil {
		return 0, fmt.Errorf("reading %s/self/status: %w", procRoot, err)
	}
	return st.CapEff, nil
}
