// Package report holds a benchmark's results (written as results.json),
// reduces the repetitions of each figure to a median with its range and the
// count of runs behind it, and renders report.md — which opens with the
// answer to the study's question — and the PNG plots.
package report
