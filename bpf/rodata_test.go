package bpf

import (
	"strings"
	"testing"
)

// TestMissingVariableFailsLoudly drops the process filter from an object's
// spec, as renaming filter_tgid in C would, and checks that setting the
// scope fails naming it instead of loading an unfiltered program.
func TestMissingVariableFailsLoudly(t *testing.T) {
	for f, def := range familyDefs {
		spec, err := def.load()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := def.setVars(spec.Copy(), scope{tgid: 1}); err != nil {
			t.Errorf("%s: setting the scope on the committed object: %v", f, err)
		}
		delete(spec.Variables, "filter_tgid")
		err = def.setVars(spec, scope{tgid: 1})
		if err == nil || !strings.Contains(err.Error(), "filter_tgid") {
			t.Errorf("%s without filter_tgid: err = %v, want one naming filter_tgid", f, err)
		}
	}
}
