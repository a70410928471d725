// Package tally is the load generator's accounting: the header every
// benchmark payload starts with, a fixed-memory latency histogram, and a
// per-subscriber tracker that tells lost, duplicated and reordered messages
// apart.
package tally
