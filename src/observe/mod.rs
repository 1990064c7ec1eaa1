//! The operators' HTTP endpoint: `/metrics` (OpenMetrics text via `prometheus-client`),
//! `/ready` and `/live`, served by one `std::net` thread of its own.
//!
//! Owns the metric names and their encoding from what the agent already keeps: the merged
//! shard totals the stats thread maintains (counters, rule hits, the hdrhistogram of decision
//! times turned into cumulative buckets at scrape time), the audit writer's counters, and the
//! rule set's identity. It refuses to touch a shard: nothing here runs on, locks or signals the
//! request path; a scrape reads a copy the stats thread keeps under its own mutex.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::audit::AuditStats;
use crate::metrics::{ErrorKind, Summary, MESSAGE_KINDS};

/// Upper bounds of the decision-duration buckets, in seconds (5 µs … 10 s).
pub const BUCKETS: [f64; 20] = [
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Which rules are loaded.
#[derive(Debug, Clone)]
pub struct RulesInfo {
    /// The configuration file given on the command line.
    pub path: String,
    /// Hash of every file the rules came from (paths and contents), hex.
    pub hash: String,
    /// Rules compiled.
    pub rules: usize,
    /// When they were loaded.
    pub loaded: SystemTime,
}

/// What the endpoint reads.
#[derive(Debug, Clone)]
pub struct State {
    /// Merged shard totals, kept by the stats thread.
    pub totals: Arc<Mutex<Summary>>,
    /// The audit writer's counters, when there is an audit log.
    pub audit: Option<Arc<AuditStats>>,
    /// Set once every shard listens.
    pub ready: Arc<AtomicBool>,
    /// The loaded rule set.
    pub rules: RulesInfo,
}

#[derive(Debug)]
struct Collector(State);

fn counter(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    v: u64,
) -> Result<(), std::fmt::Error> {
    ConstCounter::new(v).encode(enc.encode_descriptor(name, help, None, MetricType::Counter)?)
}

fn gauge(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    v: i64,
) -> Result<(), std::fmt::Error> {
    ConstGauge::new(v).encode(enc.encode_descriptor(name, help, unit, MetricType::Gauge)?)
}

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        let t = s.totals.lock().map(|t| t.clone()).unwrap_or_default();
        let c = &t.counters;
        {
            let mut m = enc.encode_descriptor(
                "requests",
                "Messages answered with a verdict, by message and verdict.",
                None,
                MetricType::Counter,
            )?;
            for (k, name) in MESSAGE_KINDS.iter().enumerate() {
                for (v, verdict) in ["pass", "block"].iter().enumerate() {
                    let labels = [("message", *name), ("verdict", *verdict)];
                    ConstCounter::new(c.verdicts[k][v]).encode(m.encode_family(&labels)?)?;
                }
            }
        }
        {
            let h = &t.latency;
            let buckets: Vec<(f64, u64)> = BUCKETS
                .iter()
                .map(|&b| {
                    let ns = (b * 1e9) as u64;
                    (
                        b,
                        if h.is_empty() {
                            0
                        } else {
                            h.count_between(0, ns)
                        },
                    )
                })
                // prometheus-client writes `+Inf` for f64::MAX.
                .chain(std::iter::once((f64::MAX, h.len())))
                .collect();
            // Cumulative already: prometheus-client writes each bucket's count as given.
            let sum = h.mean() * h.len() as f64 / 1e9;
            let mut m = enc.encode_descriptor(
                "decision_duration",
                "Time from a NOTIFY's arrival to its ACK inside the agent, merged over shards.",
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                sum,
                h.len(),
                &per_bucket(&buckets),
                None,
            )?;
        }
        counter(&mut enc, "frames", "SPOP frames received.", c.frames)?;
        counter(&mut enc, "notifies", "NOTIFY frames received.", c.notifies)?;
        counter(&mut enc, "acks", "ACK frames sent.", c.acks)?;
        counter(
            &mut enc,
            "connections",
            "Connections accepted.",
            c.connections,
        )?;
        counter(
            &mut enc,
            "connections_refused",
            "Connections refused at --max-connections (AGENT-DISCONNECT 13).",
            c.connections_refused,
        )?;
        gauge(
            &mut enc,
            "connections_open",
            "Connections open.",
            None,
            c.connections.saturating_sub(c.connections_closed) as i64,
        )?;
        {
            let mut m = enc.encode_descriptor(
                "errors",
                "Errors by kind (each also logged once).",
                None,
                MetricType::Counter,
            )?;
            for (i, kind) in ErrorKind::NAMES.iter().enumerate() {
                ConstCounter::new(c.errors[i]).encode(m.encode_family(&[("kind", *kind)])?)?;
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "rule_hits",
                "Matches of rules that log, by rule id.",
                None,
                MetricType::Counter,
            )?;
            let mut hits: Vec<(u32, u64)> = t.rule_hits.iter().map(|(&k, &v)| (k, v)).collect();
            hits.sort_unstable();
            for (id, n) in hits {
                let labels = [("rule_id", id.to_string())];
                ConstCounter::new(n).encode(m.encode_family(&labels)?)?;
            }
        }
        let (written, failed) = s.audit.as_ref().map_or((0, 0), |a| {
            (
                a.written.load(Ordering::Relaxed),
                a.write_failed.load(Ordering::Relaxed),
            )
        });
        counter(
            &mut enc,
            "audit_records_written",
            "Audit-log records written.",
            written,
        )?;
        {
            let mut m = enc.encode_descriptor(
                "audit_records_dropped",
                "Audit-log records dropped: a shard's queue was full, or the write failed.",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(c.audit_queue_full)
                .encode(m.encode_family(&[("reason", "queue_full")])?)?;
            ConstCounter::new(failed).encode(m.encode_family(&[("reason", "write_failed")])?)?;
        }
        {
            let m = enc.encode_descriptor(
                "rules",
                "The loaded rule set: its file, a hash of every file it read, its rule count.",
                None,
                MetricType::Info,
            )?;
            let labels = [
                ("path", s.rules.path.clone()),
                ("hash", s.rules.hash.clone()),
                ("rules", s.rules.rules.to_string()),
            ];
            let mut m = m;
            m.encode_info(&labels)?;
        }
        gauge(
            &mut enc,
            "rules_load_timestamp",
            "When the rule set was loaded (Unix time).",
            Some(&Unit::Seconds),
            s.rules
                .loaded
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        )?;
        {
            let mut m =
                enc.encode_descriptor("build", "The agent's version.", None, MetricType::Info)?;
            m.encode_info(&[("version", env!("CARGO_PKG_VERSION"))])?;
        }
        gauge(
            &mut enc,
            "ready",
            "1 once the rules are loaded and every shard listens.",
            None,
            i64::from(s.ready.load(Ordering::Acquire)),
        )?;
        Ok(())
    }
}

/// prometheus-client sums the bucket counts it is given (it takes per-bucket counts, as its own
/// histogram keeps them): turn cumulative counts into per-bucket ones.
fn per_bucket(cumulative: &[(f64, u64)]) -> Vec<(f64, u64)> {
    let mut prev = 0;
    cumulative
        .iter()
        .map(|&(b, c)| {
            let d = c.saturating_sub(prev);
            prev = c.max(prev);
            (b, d)
        })
        .collect()
}

/// The OpenMetrics text of `state`.
pub fn render(state: &State) -> String {
    let mut reg = Registry::with_prefix("spoa_waf");
    reg.register_collector(Box::new(Collector(state.clone())));
    let mut out = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut out, &reg);
    out
}

/// A running endpoint.
#[derive(Debug)]
pub struct Endpoint {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// The bound address (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept call.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Binds `addr` and serves the endpoint on a thread of its own until dropped.
pub fn serve(addr: SocketAddr, state: State) -> io::Result<Endpoint> {
    let listener = TcpListener::bind(addr)?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Acquire) {
                    break;
                }
                if let Ok(c) = conn {
                    // One at a time: scrapes are rare, and a slow client is cut off by the
                    // timeouts instead of holding a thread each.
                    let _ = answer(c, &state);
                }
            }
        })?;
    Ok(Endpoint {
        addr,
        stop,
        thread: Some(thread),
    })
}

fn answer(mut c: TcpStream, state: &State) -> io::Result<()> {
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    c.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = [0u8; 4096];
    let mut n = 0;
    while n < buf.len() && !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    let head = String::from_utf8_lossy(&buf[..n]);
    let mut parts = head.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            render(state),
        ),
        ("GET" | "HEAD", "/live") => ("200 OK", "text/plain", "live\n".to_string()),
        ("GET" | "HEAD", "/ready") if state.ready.load(Ordering::Acquire) => {
            ("200 OK", "text/plain", "ready\n".to_string())
        }
        ("GET" | "HEAD", "/ready") => (
            "503 Service Unavailable",
            "text/plain",
            "not ready\n".to_string(),
        ),
        ("GET" | "HEAD", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    let mut resp = String::with_capacity(body.len() + 128);
    let _ = write!(
        resp,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        resp.push_str(&body);
    }
    c.write_all(resp.as_bytes())
}

/// A hash of the files the rules were read from (sorted paths and their contents), in hex:
/// equal on two agents exactly when they loaded the same files.
pub fn rules_hash<'a>(files: impl IntoIterator<Item = &'a std::path::Path>) -> String {
    use std::hash::{Hash, Hasher};
    let mut files: Vec<&std::path::Path> = files.into_iter().collect();
    files.sort();
    files.dedup();
    // SipHash with fixed keys: stable across runs and hosts.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        f.hash(&mut h);
        std::fs::read(f).unwrap_or_default().hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ShardMetrics;

    #[test]
    fn renders_openmetrics_with_cumulative_buckets() {
        let mut m = ShardMetrics::default();
        m.counters.verdicts[0][1] = 3;
        m.counters.connections = 5;
        m.counters.connections_closed = 2;
        *m.rule_hits.entry(941100).or_insert(0) += 2;
        for us in [3u64, 30, 300, 3000] {
            m.record_latency(Duration::from_micros(us));
        }
        let mut sum = Summary::default();
        sum.merge(&m.take(0));
        let state = State {
            totals: Arc::new(Mutex::new(sum)),
            audit: None,
            ready: Arc::new(AtomicBool::new(true)),
            rules: RulesInfo {
                path: "r.conf".into(),
                hash: "ab".into(),
                rules: 2,
                loaded: UNIX_EPOCH + Duration::from_secs(10),
            },
        };
        let text = render(&state);
        assert!(text
            .contains("spoa_waf_requests_total{message=\"check-request\",verdict=\"block\"} 3\n"));
        assert!(text.contains("spoa_waf_connections_open 3\n"));
        assert!(text.contains("spoa_waf_rule_hits_total{rule_id=\"941100\"} 2\n"));
        assert!(text.contains("spoa_waf_decision_duration_seconds_bucket{le=\"0.000005\"} 1\n"));
        assert!(text.contains("spoa_waf_decision_duration_seconds_bucket{le=\"0.001\"} 3\n"));
        assert!(text.contains("spoa_waf_decision_duration_seconds_bucket{le=\"+Inf\"} 4\n"));
        assert!(text.contains("spoa_waf_decision_duration_seconds_count 4\n"));
        assert!(text.contains("spoa_waf_build_info{version=\""));
        assert!(text.contains("spoa_waf_rules_load_timestamp_seconds 10\n"));
        assert!(text.ends_with("# EOF\n"));
    }
}
