//! Per-shard counters and latency histograms, merged off the request path (house style rule 19).
//!
//! Owns [`ShardMetrics`] (plain fields, owned by one shard: no atomics, no locks), the
//! [`Snapshot`] a shard sends over a crossbeam channel, the [`Summary`] that merges them, and
//! [`spawn_reporter`], a thread that logs p50/p99/p99.9/max at an interval and totals at exit.
//! Imports nothing from the crate (the load generator uses it with the `engine` feature off).

pub mod names;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError};
use hdrhistogram::Histogram;

/// Error kinds counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Peer broke SPOP (we sent AGENT-DISCONNECT with a non-zero status).
    Protocol = 0,
    /// A message with a bad argument list.
    BadArguments = 1,
    /// A message name we do not know.
    UnknownMessage = 2,
    /// Inspector panic or oversized answer.
    Internal = 3,
    /// Socket read/write failure.
    Io = 4,
}

impl ErrorKind {
    /// Number of kinds.
    pub const COUNT: usize = 5;
    /// Names, by discriminant.
    pub const NAMES: [&'static str; Self::COUNT] = [
        "protocol",
        "bad_arguments",
        "unknown_message",
        "internal",
        "io",
    ];
}

/// Plain counters; summed field by field when merging.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// See [`names::CONNECTIONS`].
    pub connections: u64,
    /// See [`names::CONNECTIONS_REFUSED`].
    pub connections_refused: u64,
    /// See [`names::CONNECTIONS_DENIED`].
    pub connections_denied: u64,
    /// See [`names::FRAMES`].
    pub frames: u64,
    /// See [`names::NOTIFIES`].
    pub notifies: u64,
    /// See [`names::ACKS`].
    pub acks: u64,
    /// See [`names::INSPECTED`].
    pub inspected: u64,
    /// See [`names::BLOCKED`].
    pub blocked: u64,
    /// See [`names::HEALTHCHECKS`].
    pub healthchecks: u64,
    /// See [`names::DISCONNECTS_SENT`].
    pub disconnects_sent: u64,
    /// See [`names::DISCONNECTS_RECEIVED`].
    pub disconnects_received: u64,
    /// Errors by [`ErrorKind`].
    pub errors: [u64; ErrorKind::COUNT],
    /// Connections closed (open = accepted − closed).
    pub connections_closed: u64,
    /// Verdicts by message kind (see [`MESSAGE_KINDS`]) and pass (0) / block (1).
    pub verdicts: [[u64; 2]; MESSAGE_KINDS.len()],
    /// Audit records handed to the writer.
    pub audit_queued: u64,
    /// Audit records dropped because the shard's queue was full.
    pub audit_queue_full: u64,
}

/// The messages verdicts are counted by, in [`Counters::verdicts`] order.
pub const MESSAGE_KINDS: [&str; 3] = ["check-request", "coraza-req", "coraza-res"];

impl Counters {
    fn add(&mut self, o: &Counters) {
        self.connections += o.connections;
        self.connections_refused += o.connections_refused;
        self.connections_denied += o.connections_denied;
        self.frames += o.frames;
        self.notifies += o.notifies;
        self.acks += o.acks;
        self.inspected += o.inspected;
        self.blocked += o.blocked;
        self.healthchecks += o.healthchecks;
        self.disconnects_sent += o.disconnects_sent;
        self.disconnects_received += o.disconnects_received;
        for (a, b) in self.errors.iter_mut().zip(o.errors) {
            *a += b;
        }
        self.connections_closed += o.connections_closed;
        for (a, b) in self.verdicts.iter_mut().zip(o.verdicts) {
            a[0] += b[0];
            a[1] += b[1];
        }
        self.audit_queued += o.audit_queued;
        self.audit_queue_full += o.audit_queue_full;
    }
}

/// Largest latency recorded exactly (60 s); longer values are clamped.
const MAX_NANOS: u64 = 60_000_000_000;

fn new_histogram() -> Histogram<u64> {
    // 3 significant digits over 1 ns..60 s: fixed bounds so shard histograms merge losslessly.
    Histogram::new_with_bounds(1, MAX_NANOS, 3).expect("static histogram bounds are valid")
}

/// One shard's metrics. Owned by the shard (put it in a `RefCell`), never shared.
#[derive(Debug, Clone)]
pub struct ShardMetrics {
    /// Counters since the last snapshot.
    pub counters: Counters,
    latency: Histogram<u64>,
    /// Matches that logged, by rule id (a map entry is made once per id: no allocation for
    /// repeated hits).
    pub rule_hits: HashMap<u32, u64>,
}

impl Default for ShardMetrics {
    fn default() -> Self {
        ShardMetrics {
            counters: Counters::default(),
            latency: new_histogram(),
            rule_hits: HashMap::new(),
        }
    }
}

impl ShardMetrics {
    /// Records one NOTIFY's processing time.
    pub fn record_latency(&mut self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos())
            .unwrap_or(MAX_NANOS)
            .clamp(1, MAX_NANOS);
        self.latency.saturating_record(nanos);
    }

    /// Counts one error.
    pub fn error(&mut self, kind: ErrorKind) {
        self.counters.errors[kind as usize] += 1;
    }

    /// Takes what accumulated since the last call (counters and histogram reset).
    pub fn take(&mut self, shard: usize) -> Snapshot {
        let counters = std::mem::take(&mut self.counters);
        let latency = self.latency.clone();
        self.latency.reset();
        let rule_hits = self
            .rule_hits
            .iter()
            .filter(|(_, &v)| v > 0)
            .map(|(&k, &v)| (k, v))
            .collect();
        // Keys stay: the next hit of the same rule needs no allocation.
        self.rule_hits.values_mut().for_each(|v| *v = 0);
        Snapshot {
            shard,
            counters,
            latency,
            rule_hits,
        }
    }

    /// Whether anything was recorded since the last [`ShardMetrics::take`].
    pub fn is_empty(&self) -> bool {
        self.counters == Counters::default()
            && self.latency.is_empty()
            && self.rule_hits.values().all(|&v| v == 0)
    }
}

/// A shard's deltas, sent to the reporter.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Which shard.
    pub shard: usize,
    /// Counter deltas.
    pub counters: Counters,
    /// Latencies recorded in the period.
    pub latency: Histogram<u64>,
    /// Logged matches by rule id in the period (ids with no hit left out).
    pub rule_hits: Vec<(u32, u64)>,
}

/// Merged counters and latency histogram.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Summed counters.
    pub counters: Counters,
    /// Merged per-NOTIFY processing time, in nanoseconds.
    pub latency: Histogram<u64>,
    /// Logged matches by rule id.
    pub rule_hits: HashMap<u32, u64>,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            counters: Counters::default(),
            latency: new_histogram(),
            rule_hits: HashMap::new(),
        }
    }
}

impl Summary {
    /// Adds a snapshot.
    pub fn merge(&mut self, s: &Snapshot) {
        self.counters.add(&s.counters);
        for &(id, n) in &s.rule_hits {
            if n > 0 {
                *self.rule_hits.entry(id).or_insert(0) += n;
            }
        }
        // Same bounds on both sides: `add` cannot fail.
        let _ = self.latency.add(&s.latency);
    }

    /// Latency quantile in microseconds (0 when empty).
    pub fn quantile_us(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        write!(
            f,
            "{}={} {}={} {}={} {}={} {}={} {}={} {}={} {}={} {}={} {}={} {}={}",
            names::CONNECTIONS,
            c.connections,
            names::CONNECTIONS_REFUSED,
            c.connections_refused,
            names::CONNECTIONS_DENIED,
            c.connections_denied,
            names::FRAMES,
            c.frames,
            names::NOTIFIES,
            c.notifies,
            names::ACKS,
            c.acks,
            names::INSPECTED,
            c.inspected,
            names::BLOCKED,
            c.blocked,
            names::HEALTHCHECKS,
            c.healthchecks,
            names::DISCONNECTS_SENT,
            c.disconnects_sent,
            names::DISCONNECTS_RECEIVED,
            c.disconnects_received,
        )?;
        for (name, n) in ErrorKind::NAMES.iter().zip(c.errors) {
            write!(f, " errors.{name}={n}")?;
        }
        write!(
            f,
            " {}: n={} p50={:.1}us p99={:.1}us p99.9={:.1}us max={:.1}us",
            names::NOTIFY_LATENCY,
            self.latency.len(),
            self.quantile_us(0.5),
            self.quantile_us(0.99),
            self.quantile_us(0.999),
            self.latency.max() as f64 / 1000.0,
        )
    }
}

/// Spawns the reporter thread: merges snapshots from `rx`, calls `log` with the merged summary
/// of each `interval` (only when something happened), and when every sender is gone logs the
/// total and returns it.
pub fn spawn_reporter(
    rx: Receiver<Snapshot>,
    interval: Duration,
    log: impl Fn(&str) + Send + 'static,
) -> std::io::Result<JoinHandle<Summary>> {
    spawn_reporter_with(rx, interval, None, log)
}

/// [`spawn_reporter`], also keeping the running total in `live` (for a metrics endpoint: the
/// lock is taken by this thread and the scraper, never by a shard).
pub fn spawn_reporter_with(
    rx: Receiver<Snapshot>,
    interval: Duration,
    live: Option<Arc<Mutex<Summary>>>,
    log: impl Fn(&str) + Send + 'static,
) -> std::io::Result<JoinHandle<Summary>> {
    std::thread::Builder::new()
        .name("stats".into())
        .spawn(move || {
            let mut total = Summary::default();
            let mut period = Summary::default();
            let mut dirty = false;
            let mut next = Instant::now() + interval;
            loop {
                match rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
                    Ok(s) => {
                        total.merge(&s);
                        period.merge(&s);
                        if let Some(live) = &live {
                            if let Ok(mut l) = live.lock() {
                                l.merge(&s);
                            }
                        }
                        dirty = true;
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        if dirty {
                            log(&format!("stats (last {}s): {period}", interval.as_secs()));
                        }
                        period = Summary::default();
                        dirty = false;
                        next = Instant::now() + interval;
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        log(&format!("stats (total): {total}"));
                        return total;
                    }
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_merge_across_shards() {
        let (tx, rx) = crossbeam::channel::unbounded();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let l2 = lines.clone();
        let h = spawn_reporter(rx, Duration::from_secs(3600), move |s| {
            l2.lock().unwrap().push(s.to_string())
        })
        .unwrap();
        for shard in 0..3 {
            let mut m = ShardMetrics::default();
            m.counters.notifies = 10;
            m.counters.blocked = shard as u64;
            m.error(ErrorKind::Protocol);
            for us in 1..=100u64 {
                m.record_latency(Duration::from_micros(us * (shard as u64 + 1)));
            }
            let snap = m.take(shard);
            assert!(m.is_empty());
            tx.send(snap).unwrap();
        }
        drop(tx);
        let total = h.join().unwrap();
        assert_eq!(total.counters.notifies, 30);
        assert_eq!(total.counters.blocked, 3);
        assert_eq!(total.counters.errors[ErrorKind::Protocol as usize], 3);
        assert_eq!(total.latency.len(), 300);
        let max = total.latency.max();
        assert!((299_000..=300_500).contains(&max), "max {max}");
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("stats (total): connections=0"));
        assert!(lines[0].contains("notifies=30"));
        assert!(lines[0].contains("p99.9="));
    }
}
