// Package report turns a sweep's run files into what people read:
// comparison tables (terminal and Markdown, with tablewriter) and the
// tuning guideline for ops (Markdown).
//
// Analyze groups the runs (tuning.Record) by cell. Tables compare every
// cell with the plan's reference cell (every dimension at its first level)
// on each metric: median ± 95% CI, and the change of the median with the
// Mann-Whitney U test, "~" where not significant after Holm's correction
// across the cells compared on that metric. Guide compares each level of
// each dimension with the dimension's first level, the other dimensions at
// their first levels, and checks the seed's advice against the same
// evidence, with p-values Holm-corrected per dimension (each knob is one
// family). Advice no dimension answers is read beside the run files
// (Analysis.ReadBeside): restart time from the result dir's recovery
// bench, and the host's facts (procsample.ReadHostCaps, recorded in each run's environment) that make socket buffers (no
// sch_netem: on loopback the bandwidth-delay product is ~0) or log.dirs
// on several devices (one disk) "not measurable here", with the reason.
// Every number names the run files it came from.
//
// Terminal tables fit the terminal they are written to (Width; 120 columns
// when not a terminal): the columns that matter least (after the plan's
// objective and the charted metrics) are left out and named, and tables.md
// keeps them all. WriteCharts draws PNG box plots per cell, labelled by the
// cell's settings, on a log axis when the cells span more than 10x, the
// target rate on the throughput chart, and latency by percentile per cell
// from the runs' load generator results.
//
// A plan with a probes dimension (levels with probes: none and probes:
// all) also gets a probe overhead table, in the tables and the guide:
// throughput and publish p99 of both cells, the ratio all/none with its
// bootstrap interval, and the verdict against ProbeOverheadTarget (2%).
// A comparison with fewer than MinTestableRuns runs on a side is "too few
// runs", not "not significant". The plan's Invocation (written by lab
// sweep into the result dir's plan.yaml) labels a reduced run (shorter than
// the plan asks) and lists what an unprivileged host skipped.
//
// Example:
//
//	recs, _ := tuning.ReadRecords(dir)
//	a, err := report.Analyze(plan, recs)
//	report.WriteTables(os.Stdout, a, report.Terminal)
//	report.WriteGuide(f, a)
package report
