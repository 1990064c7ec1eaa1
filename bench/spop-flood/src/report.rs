//! Counting and reporting: per-thread tallies (an HDR histogram of ACK latency in nanoseconds
//! plus counters), live shared counters for the once-a-second progress line, and the final
//! text or JSON report.
//!
//! Owns no socket and no clock beyond what callers pass in; latency values are recorded as given.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;

/// Largest latency the histogram tracks exactly (60 s); larger values saturate.
const MAX_NS: u64 = 60_000_000_000;

/// What one client thread measured after the warm-up.
#[derive(Debug)]
pub struct Tally {
    /// ACK latency in nanoseconds.
    pub hist: Histogram<u64>,
    /// ACKs received.
    pub requests: u64,
    /// ACKs whose actions block (`code` > 0 or `action` = `deny`).
    pub blocked: u64,
    /// Protocol errors, unknown or late ACKs, timeouts, failed connects.
    pub errors: u64,
    /// Connections lost or closed by the agent before the end.
    pub disconnects: u64,
    /// Open loop: requests that were due before the end but never sent (pipeline full).
    pub unsent: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Self {
        Tally {
            // 3 significant digits: 0.1 % resolution at any magnitude.
            hist: Histogram::new_with_bounds(1, MAX_NS, 3)
                .expect("static histogram bounds are valid"),
            requests: 0,
            blocked: 0,
            errors: 0,
            disconnects: 0,
            unsent: 0,
        }
    }

    /// Records one ACK.
    pub fn ack(&mut self, latency_ns: u64, blocked: bool) {
        self.hist.saturating_record(latency_ns.clamp(1, MAX_NS));
        self.requests += 1;
        self.blocked += u64::from(blocked);
    }

    /// Adds another thread's tally.
    pub fn merge(&mut self, other: &Tally) {
        // Same bounds on both sides, so adding cannot fail; saturate defensively anyway.
        if self.hist.add(&other.hist).is_err() {
            for v in other.hist.iter_recorded() {
                self.hist
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        self.requests += other.requests;
        self.blocked += other.blocked;
        self.errors += other.errors;
        self.disconnects += other.disconnects;
        self.unsent += other.unsent;
    }
}

/// Counters all threads bump (in batches) for the progress line; not used for the report.
#[derive(Debug, Default)]
pub struct Live {
    /// ACKs received, warm-up included.
    pub acks: AtomicU64,
    /// Blocked ACKs.
    pub blocked: AtomicU64,
    /// Errors.
    pub errors: AtomicU64,
    /// Disconnects.
    pub disconnects: AtomicU64,
}

impl Live {
    /// Adds a batch.
    pub fn add(&self, acks: u64, blocked: u64, errors: u64, disconnects: u64) {
        if acks > 0 {
            self.acks.fetch_add(acks, Ordering::Relaxed);
        }
        if blocked > 0 {
            self.blocked.fetch_add(blocked, Ordering::Relaxed);
        }
        if errors > 0 {
            self.errors.fetch_add(errors, Ordering::Relaxed);
        }
        if disconnects > 0 {
            self.disconnects.fetch_add(disconnects, Ordering::Relaxed);
        }
    }

    /// One progress line given the ACK count at the previous line and the elapsed time.
    pub fn progress_line(
        &self,
        elapsed: Duration,
        prev_acks: u64,
        interval: Duration,
    ) -> (String, u64) {
        let acks = self.acks.load(Ordering::Relaxed);
        let rate = (acks - prev_acks.min(acks)) as f64 / interval.as_secs_f64().max(1e-9);
        let line = format!(
            "[{:>5.1}s] {:>10.0} req/s  total {:>10}  blocked {:>8}  errors {:>6}  disconnects {:>4}",
            elapsed.as_secs_f64(),
            rate,
            acks,
            self.blocked.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            self.disconnects.load(Ordering::Relaxed),
        );
        (line, acks)
    }
}

/// The run's settings echoed in the report.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// `--target`.
    pub target: String,
    /// `--corpus`.
    pub corpus: String,
    /// Requests in the corpus.
    pub corpus_requests: usize,
    /// `--message`.
    pub message: &'static str,
    /// `--connections`.
    pub connections: usize,
    /// Effective pipeline depth.
    pub pipeline: usize,
    /// `--rate`, if open loop.
    pub rate: Option<f64>,
    /// Measured window (duration − warm-up), actual.
    pub measured: Duration,
    /// Corpus requests whose body was cut to fit max-frame-size.
    pub truncated: usize,
    /// CPU seconds spop-flood itself used and the wall time they were used in (Linux only):
    /// a client near 1 core per pinned CPU is the limit, not the agent.
    pub client_cpu: Option<(f64, Duration)>,
}

/// CPU seconds (user + system) this process has used, from `/proc/self/stat` (Linux).
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux ABI Rust supports.
    Some((utime + stime) / 100.0)
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// The final report as a JSON value.
pub fn to_json(info: &RunInfo, t: &Tally) -> serde_json::Value {
    let secs = info.measured.as_secs_f64().max(1e-9);
    let q = |p: f64| us(t.hist.value_at_quantile(p));
    json!({
        "target": info.target,
        "corpus": info.corpus,
        "corpus_requests": info.corpus_requests,
        "message": info.message,
        "connections": info.connections,
        "pipeline": info.pipeline,
        "mode": if info.rate.is_some() { "open" } else { "closed" },
        "rate": info.rate,
        "duration_s": secs,
        "requests": t.requests,
        "rps": t.requests as f64 / secs,
        "p50_us": q(0.50),
        "p90_us": q(0.90),
        "p99_us": q(0.99),
        "p999_us": q(0.999),
        "max_us": us(t.hist.max()),
        "mean_us": t.hist.mean() / 1000.0,
        "blocked": t.blocked,
        "errors": t.errors,
        "disconnects": t.disconnects,
        "unsent": t.unsent,
        "truncated_bodies": info.truncated,
        "client_cpu_s": info.client_cpu.map(|c| c.0),
        "client_cores_busy": info.client_cpu.map(|(cpu, wall)| cpu / wall.as_secs_f64().max(1e-9)),
    })
}

/// The final report as text.
pub fn to_text(info: &RunInfo, t: &Tally) -> String {
    let secs = info.measured.as_secs_f64().max(1e-9);
    let q = |p: f64| us(t.hist.value_at_quantile(p));
    let mode = match info.rate {
        Some(r) => format!("open loop at {r:.0} req/s"),
        None => "closed loop".to_string(),
    };
    let mut s = format!(
        "spop-flood → {}: {} ({} requests), {}, {} connection(s) × pipeline {}, {}\n",
        info.target,
        info.corpus,
        info.corpus_requests,
        info.message,
        info.connections,
        info.pipeline,
        mode
    );
    s += &format!(
        "  requests    {:>12}  in {:.2} s  = {:.0} req/s\n",
        t.requests,
        secs,
        t.requests as f64 / secs
    );
    s += &format!(
        "  latency µs  p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}\n",
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        us(t.hist.max()),
        t.hist.mean() / 1000.0
    );
    s += &format!(
        "  blocked {}  errors {}  disconnects {}  unsent {}",
        t.blocked, t.errors, t.disconnects, t.unsent
    );
    if info.truncated > 0 {
        s += &format!("  (bodies cut to fit max-frame-size: {})", info.truncated);
    }
    s.push('\n');
    if let Some((cpu, wall)) = info.client_cpu {
        s += &format!(
            "  client used {cpu:.2} CPU s in {:.2} s ({:.2} cores)\n",
            wall.as_secs_f64(),
            cpu / wall.as_secs_f64().max(1e-9)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RunInfo {
        RunInfo {
            target: "t".into(),
            corpus: "c".into(),
            corpus_requests: 3,
            message: "check-request",
            connections: 2,
            pipeline: 20,
            rate: None,
            measured: Duration::from_secs(2),
            truncated: 0,
            client_cpu: Some((1.0, Duration::from_secs(2))),
        }
    }

    #[test]
    fn merge_and_quantiles() {
        let mut a = Tally::new();
        let mut b = Tally::new();
        for i in 1..=99u64 {
            a.ack(i * 1000, false);
        }
        b.ack(1_000_000, true);
        b.errors = 2;
        a.merge(&b);
        assert_eq!(a.requests, 100);
        assert_eq!(a.blocked, 1);
        assert_eq!(a.errors, 2);
        let j = to_json(&info(), &a);
        assert_eq!(j["requests"], 100);
        assert_eq!(j["rps"], 50.0);
        // p50 of 1..=99 µs plus one 1 ms outlier is 50 µs (within the histogram's 0.1 %).
        let p50 = j["p50_us"].as_f64().unwrap();
        assert!((49.9..=50.1).contains(&p50), "{p50}");
        let max = j["max_us"].as_f64().unwrap();
        assert!((999.0..=1001.0).contains(&max), "{max}");
        assert_eq!(j["mode"], "closed");
        for k in ["p99_us", "p999_us", "blocked", "errors"] {
            assert!(j.get(k).is_some(), "{k}");
        }
        assert_eq!(j["client_cores_busy"], 0.5);
        assert!(to_text(&info(), &a).contains("blocked 1"));
        assert!(to_text(&info(), &a).contains("(0.50 cores)"));
    }

    #[test]
    fn own_cpu_time_is_readable_and_grows() {
        let Some(a) = process_cpu_seconds() else {
            return; // not Linux
        };
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let b = process_cpu_seconds().unwrap();
        assert!(b >= a);
    }

    #[test]
    fn huge_latency_saturates() {
        let mut t = Tally::new();
        t.ack(u64::MAX, false);
        t.ack(0, false);
        assert_eq!(t.requests, 2);
        assert!(t.hist.max() >= MAX_NS / 2);
        assert!(t.hist.min() <= 1);
    }

    #[test]
    fn progress_rate() {
        let l = Live::default();
        l.add(500, 5, 1, 0);
        let (line, acks) = l.progress_line(Duration::from_secs(1), 0, Duration::from_millis(500));
        assert_eq!(acks, 500);
        assert!(line.contains("1000 req/s"), "{line}");
        assert!(line.contains("blocked        5"), "{line}");
    }
}
