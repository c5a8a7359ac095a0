package bpf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/cilium/ebpf/btf"
)

// Event is one kernel event a family attaches to.
type Event struct {
	// Method is the program section: tracepoint/GROUP/NAME or tp_btf/NAME.
	Method    string `json:"method"`
	Available bool   `json:"available"`
	// Reason says why an event is unavailable.
	Reason string `json:"reason,omitempty"`
}

// FamilyFeatures says whether a family can run on this kernel.
type FamilyFeatures struct {
	Family    Family  `json:"family"`
	Available bool    `json:"available"`
	Reason    string  `json:"reason,omitempty"`
	Events    []Event `json:"events"`
}

// Features is the result of the startup feature probe.
type Features struct {
	// Tracefs is the tracefs directory probed; TracefsErr is set when its
	// events/ directory cannot be read.
	Tracefs    string           `json:"tracefs"`
	TracefsErr string           `json:"tracefs_error,omitempty"`
	BTFErr     string           `json:"btf_error,omitempty"`
	Families   []FamilyFeatures `json:"families"`
}

// Family returns the features of one family.
func (f Features) Family(fam Family) (FamilyFeatures, bool) {
	for _, ff := range f.Families {
		if ff.Family == fam {
			return ff, true
		}
	}
	return FamilyFeatures{}, false
}

// ProbeFeatures lists, for every family, the events its programs attach to
// and whether this kernel has them: tracepoints by their tracefs directory
// (tracefsDir/events/GROUP/NAME), tp_btf events by the btf_trace_NAME type
// in the kernel's BTF. The event list comes from the program sections of the
// generated objects, so it cannot drift from what New attaches.
func ProbeFeatures(tracefsDir string) Features {
	if tracefsDir == "" {
		tracefsDir = DefaultTracefsDir
	}
	out := Features{Tracefs: tracefsDir}
	if _, err := os.Stat(filepath.Join(tracefsDir, "events")); err != nil {
		out.TracefsErr = err.Error()
	}
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		out.BTFErr = err.Error()
	}
	for _, f := range Families() {
		ff := FamilyFeatures{Family: f, Available: true}
		spec, err := familyDefs[f].load()
		if err != nil {
			ff.Available, ff.Reason = false, fmt.Sprintf("reading embedded object: %v", err)
			out.Families = append(out.Families, ff)
			continue
		}
		var sections []string
		for _, p := range spec.Programs {
			sections = append(sections, p.SectionName)
		}
		slices.Sort(sections)
		var missing []string
		for _, sec := range sections {
			ev := Event{Method: sec, Available: true}
			kind, rest, _ := strings.Cut(sec, "/")
			switch kind {
			case "tracepoint", "tp":
				if out.TracefsErr != "" {
					ev.Available, ev.Reason = false, "tracefs not mounted at "+tracefsDir
				} else if _, err := os.Stat(filepath.Join(tracefsDir, "events", rest, "id")); err != nil {
					ev.Available, ev.Reason = false, "no such tracepoint in "+tracefsDir+"/events"
				}
			case "tp_btf", "raw_tp", "raw_tracepoint":
				if kernel == nil {
					ev.Available, ev.Reason = false, "no kernel BTF: "+out.BTFErr
				} else if _, err := kernel.AnyTypeByName("btf_trace_" + rest); err != nil {
					if errors.Is(err, btf.ErrNotFound) {
						ev.Available, ev.Reason = false, "no btf_trace_"+rest+" in kernel BTF"
					} else {
						ev.Available, ev.Reason = false, err.Error()
					}
				}
			default:
				ev.Available, ev.Reason = false, "unknown program type"
			}
			if !ev.Available {
				missing = append(missing, sec+" ("+ev.Reason+")")
			}
			ff.Events = append(ff.Events, ev)
		}
		if len(missing) > 0 {
			ff.Available = false
			ff.Reason = "missing " + strings.Join(missing, ", ")
		}
		out.Families = append(out.Families, ff)
	}
	return out
}

// WriteTo writes the feature probe as a plain table: family, event, status.
func (f Features) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	tw := tabwriter.NewWriter(cw, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "tracefs\t%s\t%s\n", f.Tracefs, okOr(f.TracefsErr))
	fmt.Fprintf(tw, "kernel BTF\t/sys/kernel/btf/vmlinux\t%s\n", okOr(f.BTFErr))
	for _, ff := range f.Families {
		status := "available"
		if !ff.Available {
			status = "unavailable"
		}
		fmt.Fprintf(tw, "%s\t\t%s\n", ff.Family, status)
		for _, ev := range ff.Events {
			fmt.Fprintf(tw, "  \t%s\t%s\n", ev.Method, okOr(ev.Reason))
		}
	}
	err := tw.Flush()
	return cw.n, err
}

func okOr(reason string) string {
	if reason == "" {
		return "ok"
	}
	return "missing: " + reason
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
