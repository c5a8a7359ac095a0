// Package stats holds the statistics the lab reports, with benchstat's
// conventions so its numbers read like benchstat's:
//
//   - a sample is summarised by its median and a 95% confidence interval
//     of the median (distribution-free, from order statistics), computed
//     by golang.org/x/perf/benchmath's AssumeNothing, as benchstat does;
//   - two samples are compared with the Mann-Whitney U test (two-sided,
//     alpha 0.05); a difference that is not significant prints as "~";
//   - a ratio of medians gets a percentile-bootstrap confidence interval
//     (BootstrapRatio), so a guideline can say "+12% (95% CI +5% to +19%)";
//   - when one report makes many comparisons, Holm's step-down correction
//     (Holm 1979) adjusts the p-values so the chance of any false "this
//     knob matters" stays at alpha for the whole family. Holm controls the
//     family-wise error rate like Bonferroni but rejects at least as much;
//     it assumes nothing about dependence between the tests.
//
// Example:
//
//	base := stats.Summarize(baseline)  // base.Center ± base.PctRange()
//	c := stats.Compare(baseline, tuned) // c.Delta() is "~" or "-4.58%"
//	stats.Holm(comparisons)             // sets AdjustedP and Significant
package stats
