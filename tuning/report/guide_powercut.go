package report

import (
	"bufio"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/brokerlab/brokerlab/tuning"
)

// writePowercut writes, under a dimension whose levels are flush policies,
// what a power cut loses at each level: the power-cut lab read beside the
// run, matched to the levels by the flush settings each level's cells run
// with. Nothing is written for a dimension no level of which is a policy
// of that lab, or when there is no power-cut lab beside the run.
func (g *guide) writePowercut(w *bufio.Writer, d tuning.Dimension) {
	p := g.a.Powercut
	if p == nil {
		return
	}
	// Only a dimension that sets a flush key is about flushing; the
	// others' levels all run with the plan's flush policy.
	if !slices.ContainsFunc(d.Levels, setsFlush) {
		return
	}
	type levelLoss struct {
		level string
		pol   *PowercutPolicy
	}
	var rows []levelLoss
	matched := false
	for _, l := range d.Levels {
		pol := p.policyFor(tuning.Merge(g.a.Plan.Base, l.Settings).Broker)
		matched = matched || pol != nil
		rows = append(rows, levelLoss{l.Name, pol})
	}
	if !matched {
		return
	}
	loop := false
	for _, pol := range p.Policies {
		loop = loop || pol.Loop != nil
	}
	var about []string
	if p.Commit != "" {
		about = append(about, "commit "+p.Commit)
	}
	if p.Kernel != "" {
		about = append(about, "kernel "+p.Kernel)
	}
	src := "`" + p.File + "`"
	if len(about) > 0 {
		src += ", " + strings.Join(about, ", ")
	}
	fmt.Fprintf(w, "What a power cut loses at each level (lab powercut beside this run: %s). "+
		"Acknowledged records lost per cut (idempotent acks=all producers), median and max over the cuts. "+
		"The FUSE power-cut filesystem drops every write not yet fsynced; under \"data+metadata\" unsynced "+
		"creates, renames and deletes go too.", src)
	if loop {
		fmt.Fprint(w, " The loop device is ext4 over a loop file with writeback held off, the broker SIGKILLed "+
			"and restarted on a copy of what reached the file.")
	}
	if p.SegmentBytes > 0 {
		fmt.Fprintf(w, " Each cut came %v to %v after the producers started, with log.segment.bytes %d; a roll fsyncs the"+
			" rolled segment, as Kafka's does. A policy that flushes less often than the segments roll therefore loses"+
			" at most what the active segments hold, so levels that would differ on a log of large segments (where"+
			" the page cache can hold vm.dirty_expire_centisecs of records unsynced) can read alike here.",
			p.MinRun, p.MaxRun, p.SegmentBytes)
	}
	fmt.Fprint(w, " The table above is each level's price in latency; this one is what it buys.\n\n")

	header := []string{"level"}
	for _, sem := range p.Semantics {
		header = append(header, "FUSE, "+sem)
	}
	if loop {
		header = append(header, "ext4 on a loop device")
	}
	header = append(header, "corrupt batches served", "broker did not start")
	var table [][]string
	for _, r := range rows {
		row := []string{r.level}
		if r.pol == nil {
			for range len(header) - 1 {
				row = append(row, "not in the power-cut run")
			}
			table = append(table, row)
			continue
		}
		var all []Losses
		for _, sem := range p.Semantics {
			l := r.pol.Model[sem]
			all = append(all, l)
			row = append(row, lossText(l))
		}
		if loop {
			if r.pol.Loop == nil {
				row = append(row, "not run")
			} else {
				all = append(all, *r.pol.Loop)
				row = append(row, lossText(*r.pol.Loop))
			}
		}
		var cuts, corrupt, notStarted int
		for _, l := range all {
			cuts += l.Cuts
			corrupt += l.Corrupt
			notStarted += l.NotStarted
		}
		row = append(row, fmt.Sprintf("%d of %d cuts", corrupt, cuts), fmt.Sprintf("%d of %d cuts", notStarted, cuts))
		table = append(table, row)
	}
	g.table(w, header, table)
	fmt.Fprintln(w)
}

// setsFlush says whether the level sets a flush key itself.
func setsFlush(l tuning.Level) bool {
	for k := range l.Broker {
		if _, ok := flushKeys[k]; ok {
			return true
		}
	}
	return false
}

// lossText is one policy's losses under one kind of cut.
func lossText(l Losses) string {
	var s string
	switch {
	case l.Checked == 0:
		s = fmt.Sprintf("no cut read back (%d cuts)", l.Cuts)
	case l.Losing == 0:
		s = fmt.Sprintf("none in %d cuts", l.Checked)
	default:
		s = fmt.Sprintf("median %s, max %s; %d of %d cuts lost some", count(l.Median), count(l.Max), l.Losing, l.Checked)
	}
	if failed := l.Cuts - l.Checked - l.NotStarted; failed > 0 && l.Checked > 0 {
		s += fmt.Sprintf(" (%d more not read back)", failed)
	}
	return s
}

// count writes n with thousands separated by commas.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
