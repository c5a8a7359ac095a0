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
// evidence. Every number names the run files it came from.
//
// Example:
//
//	recs, _ := tuning.ReadRecords(dir)
//	a, err := report.Analyze(plan, recs)
//	report.WriteTables(os.Stdout, a, report.Terminal)
//	report.WriteGuide(f, a)
package report
