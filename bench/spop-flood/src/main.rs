//! `spop-flood`: a SPOP load generator that behaves like HAProxy in front of a WAF agent.
//!
//! Reads a request corpus (shared/docs/corpus-format.md), encodes each request once as a
//! `check-request` or `coraza-req` NOTIFY, opens `--connections` SPOP connections (HELLO with
//! `pipelining`) and keeps them busy in closed loop, or paces them at `--rate` in open loop.
//! Reports throughput, ACK latency percentiles (HDR histogram), blocked verdicts, errors and
//! disconnects, as text or one JSON object. It never asserts a figure: it records.
//! The protocol bytes all come from `spoa_waf::spop` (see `wire`); it has no codec of its own.

mod cli;
mod conn;
#[cfg(test)]
mod mock;
mod report;
mod wire;

use std::net::ToSocketAddrs;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use spoa_waf::corpus::CorpusRequest;

use crate::cli::Args;
use crate::conn::{ConnSpec, Plan};
use crate::report::{Live, RunInfo, Tally};

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok((info, total)) => {
            if args.json {
                println!("{}", report::to_json(&info, &total));
            } else {
                print!("{}", report::to_text(&info, &total));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("spop-flood: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the whole test; returns what to report.
fn run(args: &Args) -> Result<(RunInfo, Tally), String> {
    args.validate()?;
    let cpus = args.cpu_list()?;
    let text = std::fs::read_to_string(&args.corpus)
        .map_err(|e| format!("{}: {e}", args.corpus.display()))?;
    let corpus =
        CorpusRequest::parse_all(&text).map_err(|e| format!("{}: {e}", args.corpus.display()))?;
    if corpus.is_empty() {
        return Err(format!("{}: no requests", args.corpus.display()));
    }
    let target = args
        .target
        .to_socket_addrs()
        .map_err(|e| format!("--target {}: {e}", args.target))?
        .next()
        .ok_or_else(|| format!("--target {}: no address", args.target))?;

    let encoded: Vec<wire::Payload> = corpus
        .iter()
        .enumerate()
        .map(|(i, r)| wire::notify_payload(r, args.message, i, args.max_frame_size))
        .collect();
    let truncated = encoded.iter().filter(|p| p.truncated).count();
    let payloads: Vec<Vec<u8>> = encoded.into_iter().map(|p| p.bytes).collect();
    if !args.quiet {
        let avg = payloads.iter().map(Vec::len).sum::<usize>() / payloads.len();
        eprintln!(
            "spop-flood: {} requests from {} as {} (mean NOTIFY payload {avg} B{}), {} connection(s) × pipeline {}{}",
            payloads.len(),
            args.corpus.display(),
            args.message.name(),
            if truncated > 0 { format!(", {truncated} bodies cut to fit") } else { String::new() },
            args.connections,
            args.pipeline,
            match args.rate {
                Some(r) => format!(", open loop at {r} req/s"),
                None => ", closed loop".to_string(),
            }
        );
    }

    let cpu0 = report::process_cpu_seconds();
    let start = Instant::now();
    let plan = Arc::new(Plan {
        target,
        payloads: Arc::new(payloads),
        pipeline: args.pipeline,
        max_frame_size: args.max_frame_size,
        timeout: Duration::from_millis(args.timeout_ms),
        start,
        measure_from: start + args.warmup(),
        deadline: start + args.duration(),
        live: Arc::new(Live::default()),
    });

    let n = plan.payloads.len();
    let mut handles = Vec::with_capacity(args.connections);
    for index in 0..args.connections {
        let spec = ConnSpec {
            index,
            offset: index * n / args.connections,
            rate: args.rate.map(|r| r / args.connections as f64),
            cpu: if cpus.is_empty() {
                None
            } else {
                Some(cpus[index % cpus.len()])
            },
        };
        let plan = Arc::clone(&plan);
        let open_loop = args.rate.is_some();
        let h = thread::Builder::new()
            .name(format!("conn-{index}"))
            .spawn(move || {
                if open_loop {
                    conn::run_open(&plan, spec)
                } else {
                    conn::run_closed(&plan, spec)
                }
            })
            .map_err(|e| format!("spawning connection thread: {e}"))?;
        handles.push(h);
    }

    // Progress once a second until every connection is done.
    let mut prev = 0u64;
    let mut last = Instant::now();
    while handles.iter().any(|h| !h.is_finished()) {
        thread::sleep(Duration::from_millis(100));
        if last.elapsed() >= Duration::from_secs(1) {
            let (line, acks) = plan
                .live
                .progress_line(start.elapsed(), prev, last.elapsed());
            if !args.quiet {
                eprintln!("{line}");
            }
            prev = acks;
            last = Instant::now();
        }
    }
    let client_cpu = match (cpu0, report::process_cpu_seconds()) {
        (Some(a), Some(b)) => Some((b - a, start.elapsed())),
        _ => None,
    };
    let mut total = Tally::new();
    for h in handles {
        match h.join() {
            Ok(t) => total.merge(&t),
            Err(_) => total.errors += 1,
        }
    }
    let info = RunInfo {
        target: args.target.clone(),
        corpus: args.corpus.display().to_string(),
        corpus_requests: n,
        message: args.message.name(),
        connections: args.connections,
        pipeline: args.pipeline,
        rate: args.rate,
        measured: args.duration().saturating_sub(args.warmup()),
        truncated,
        client_cpu,
    };
    Ok((info, total))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    fn corpus_file() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/mix.jsonl")
    }

    fn args(addr: std::net::SocketAddr, extra: &[&str]) -> Args {
        let addr = addr.to_string();
        let corpus = corpus_file();
        let mut v = vec![
            "spop-flood",
            "--target",
            addr.as_str(),
            "--corpus",
            corpus.to_str().unwrap(),
            "--quiet",
        ];
        v.extend_from_slice(extra);
        Args::try_parse_from(v).unwrap()
    }

    #[test]
    fn closed_loop_counts_every_verdict() {
        let (addr, seen) = mock::start(0);
        let a = args(
            addr,
            &["--connections", "2", "--pipeline", "8", "--duration", "0.5"],
        );
        let (info, t) = run(&a).unwrap();
        assert_eq!(info.corpus_requests, 1000);
        assert!(t.requests > 0);
        assert_eq!(t.errors, 0);
        assert_eq!(t.disconnects, 0);
        // Every NOTIFY the agent answered before the deadline was counted, and nothing more.
        let sent = seen.notifies.load(Ordering::Relaxed);
        assert!(
            t.requests <= sent && sent <= t.requests + 2 * 8,
            "{} vs {sent}",
            t.requests
        );
        // Blocked ACKs come from the 5 % attack lines, spread evenly through the corpus.
        assert!(
            t.blocked > 0 && t.blocked < t.requests / 5,
            "{} of {}",
            t.blocked,
            t.requests
        );
        assert_eq!(t.hist.len(), t.requests);
        assert_eq!(seen.connections.load(Ordering::Relaxed), 2);
        assert_eq!(
            seen.disconnects.load(Ordering::Relaxed),
            2,
            "each connection said goodbye"
        );
    }

    #[test]
    fn a_full_pass_over_the_mix_blocks_exactly_the_attacks() {
        let (addr, seen) = mock::start(0);
        // One connection, pipeline 1, long enough to walk the corpus at least once.
        let a = args(
            addr,
            &[
                "--pipeline",
                "1",
                "--duration",
                "1",
                "--message",
                "coraza-req",
            ],
        );
        let (_, t) = run(&a).unwrap();
        let sent = seen.notifies.load(Ordering::Relaxed);
        assert!(sent >= t.requests);
        if t.requests >= 1000 {
            // Every full pass over the corpus carries exactly 50 attacks.
            let passes = t.requests / 1000;
            assert!(
                t.blocked >= passes * 50 && t.blocked <= (passes + 1) * 50,
                "{}",
                t.blocked
            );
        }
        assert!(t.blocked > 0);
    }

    #[test]
    fn reconnects_after_the_agent_hangs_up() {
        let (addr, seen) = mock::start(100);
        let a = args(addr, &["--pipeline", "4", "--duration", "0.6"]);
        let (_, t) = run(&a).unwrap();
        assert!(t.disconnects >= 1);
        assert!(seen.connections.load(Ordering::Relaxed) >= 2);
        assert!(t.requests >= 100);
    }

    #[test]
    fn open_loop_never_exceeds_its_schedule() {
        let (addr, seen) = mock::start(0);
        let a = args(
            addr,
            &["--rate", "2000", "--connections", "2", "--duration", "0.5"],
        );
        let (info, t) = run(&a).unwrap();
        assert_eq!(info.rate, Some(2000.0));
        // 2,000/s for 0.5 s is 1,000 intended sends; each connection may round up by one.
        let sent = seen.notifies.load(Ordering::Relaxed);
        assert!(sent <= 1002, "{sent}");
        assert!(t.requests > 0 && t.requests <= sent);
        assert_eq!(t.errors, 0);
    }

    #[test]
    fn unreachable_target_is_an_error_not_a_hang() {
        // Bind then drop to get a port nobody listens on.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let a = args(addr, &["--duration", "0.3"]);
        let (_, t) = run(&a).unwrap();
        assert_eq!(t.requests, 0);
        assert!(t.errors >= 1);
    }
}
