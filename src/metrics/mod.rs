//! Per-shard counters and latency histograms, merged at export. (Being written: issue #2.)
