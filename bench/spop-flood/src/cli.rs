//! Command line of `spop-flood`, and the `--cpus` list syntax (`0,2-3`).
//!
//! Owns argument parsing and the range checks clap cannot express; it opens no socket and
//! reads no file. The flags follow the bench brief (issue #4): target, corpus, connections,
//! pipeline, duration, rate, message shape, CPUs, JSON output.

use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Which SPOE message shape to send, as HAProxy (Ingress) would configure it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageKind {
    /// HAProxy Ingress classic: `check-request`, 8 unnamed args, `req.hdrs_bin`.
    CheckRequest,
    /// coraza-spoa: `coraza-req`, named args, `req.hdrs` text.
    CorazaReq,
}

impl MessageKind {
    /// The message name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::CheckRequest => "check-request",
            MessageKind::CorazaReq => "coraza-req",
        }
    }
}

/// SPOP load generator that behaves like HAProxy: HELLO with pipelining, then NOTIFY frames built
/// from a request corpus; measures ACK latency and throughput.
#[derive(Debug, Parser)]
#[command(name = "spop-flood", version)]
pub struct Args {
    /// Agent address, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:12345")]
    pub target: String,
    /// Request corpus (JSON lines, shared/docs/corpus-format.md).
    #[arg(long)]
    pub corpus: std::path::PathBuf,
    /// SPOP connections (one client thread each; two in open loop).
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// Concurrent streams per connection (HAProxy ≥ 3.1 uses at most 20).
    #[arg(long, default_value_t = 20)]
    pub pipeline: usize,
    /// Test length in seconds (warm-up included).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds at the start whose ACKs are not counted in the report.
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// Open loop at this many requests/s in total (spread over the connections); latency is
    /// measured from each request's intended send time. Default: closed loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Message shape.
    #[arg(long, value_enum, default_value_t = MessageKind::CheckRequest)]
    pub message: MessageKind,
    /// CPUs to pin client threads to, round robin (`0`, `0,1`, `2-3`). Default: no pinning.
    #[arg(long)]
    pub cpus: Option<String>,
    /// max-frame-size offered in HAPROXY-HELLO (HAProxy's default is tune.bufsize − 4).
    #[arg(long, default_value_t = 16380)]
    pub max_frame_size: u32,
    /// A request without ACK after this many milliseconds counts as an error (HAProxy's
    /// `timeout processing`).
    #[arg(long, default_value_t = 1000)]
    pub timeout_ms: u64,
    /// Print one JSON object on stdout instead of the text report.
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    /// Checks value ranges clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.connections == 0 {
            return Err("--connections must be at least 1".into());
        }
        if self.pipeline == 0 || self.pipeline > 4096 {
            return Err("--pipeline must be in 1..=4096".into());
        }
        if !self.duration.is_finite() || self.duration <= 0.0 {
            return Err("--duration must be a positive number of seconds".into());
        }
        if self.warmup.is_nan() || self.warmup < 0.0 || self.warmup >= self.duration {
            return Err("--warmup must be in [0, duration)".into());
        }
        if let Some(r) = self.rate {
            if !r.is_finite() || r <= 0.0 {
                return Err("--rate must be a positive number of requests/s".into());
            }
        }
        if self.max_frame_size < 256 {
            return Err("--max-frame-size must be at least 256 (SPOE.txt)".into());
        }
        Ok(())
    }

    /// The test length.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration)
    }

    /// The warm-up length.
    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup)
    }

    /// The parsed `--cpus` list (empty: no pinning).
    pub fn cpu_list(&self) -> Result<Vec<usize>, String> {
        match &self.cpus {
            None => Ok(Vec::new()),
            Some(s) => parse_cpu_list(s),
        }
    }
}

/// Parses `0,2-3,5` into `[0, 2, 3, 5]` (order kept, duplicates allowed).
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("bad CPU number {t:?} in --cpus {s:?}"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("bad CPU range {part:?} in --cpus {s:?}"));
                }
                out.extend(a..=b);
            }
            None => out.push(num(part)?),
        }
    }
    if out.is_empty() {
        return Err(format!("--cpus {s:?} names no CPU"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0").unwrap(), vec![0]);
        assert_eq!(parse_cpu_list("0,2-4, 7").unwrap(), vec![0, 2, 3, 4, 7]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list(",").is_err());
    }

    #[test]
    fn flags_parse_and_validate() {
        let a = Args::try_parse_from([
            "spop-flood",
            "--corpus",
            "c.jsonl",
            "--connections",
            "4",
            "--pipeline",
            "8",
            "--rate",
            "5000",
            "--message",
            "coraza-req",
            "--cpus",
            "1",
            "--json",
        ])
        .unwrap();
        assert_eq!(a.connections, 4);
        assert_eq!(a.pipeline, 8);
        assert_eq!(a.rate, Some(5000.0));
        assert_eq!(a.message, MessageKind::CorazaReq);
        assert!(a.json);
        assert!(a.validate().is_ok());
        let bad = Args::try_parse_from([
            "spop-flood",
            "--corpus",
            "c",
            "--warmup",
            "20",
            "--duration",
            "10",
        ])
        .unwrap();
        assert!(bad.validate().is_err());
        let bad = Args::try_parse_from(["spop-flood", "--corpus", "c", "--rate", "0"]).unwrap();
        assert!(bad.validate().is_err());
    }
}
