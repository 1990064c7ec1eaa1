//! `spoa-waf serve`: load the rules, start the shards, run until SIGTERM/SIGINT.
//!
//! Owns the command-line surface of the server and its translation into a
//! [`crate::server::ServerConfig`]; refuses to start on any invalid value, with a message that
//! names the flag.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::audit::writer::QUEUE_PER_SHARD;
use crate::audit::AuditLog;
use crate::metrics::Summary;
use crate::observe;

use crate::engine::Engine;
use crate::server::log::{log, Level};
use crate::server::{self, ServerConfig, DEFAULT_MAX_CONNECTIONS};
use crate::spop::session::DEFAULT_MAX_FRAME_SIZE;

/// Arguments of `spoa-waf serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (`IP:PORT`).
    #[arg(long, default_value = "0.0.0.0:12345")]
    pub listen: SocketAddr,
    /// SecLang configuration to load.
    #[arg(long)]
    pub rules: PathBuf,
    /// Number of shards (default: one per available CPU, or one per --cpus entry).
    #[arg(long)]
    pub shards: Option<usize>,
    /// CPUs to pin shards to, e.g. `0-3,6` (default: all available CPUs).
    #[arg(long, value_parser = parse_cpu_list)]
    pub cpus: Option<CpuList>,
    /// Largest SPOP frame accepted; HAProxy's HELLO may lower it (its default is 16380 =
    /// tune.bufsize - 4). Raise it together with HAProxy's tune.bufsize for large bodies.
    #[arg(long, default_value_t = DEFAULT_MAX_FRAME_SIZE)]
    pub max_frame_size: u32,
    /// Connections per shard; further connections get AGENT-DISCONNECT 13.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Seconds between statistics lines (counters and latency percentiles).
    #[arg(long, default_value_t = 60)]
    pub stats_interval: u64,
    /// Serve `/metrics` (Prometheus/OpenMetrics text), `/ready` and `/live` on this address
    /// (`IP:PORT`), on a thread of its own. Off by default.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Also answer with variables for HAProxy's log-format: `rule_ids` (ids of the rules that
    /// logged, comma-separated) in both dialects and `anomaly_score` in the classic one
    /// (`txn.modsec.rule_ids`, `txn.modsec.anomaly_score`). Off: the HAProxy Ingress contract.
    #[arg(long)]
    pub result_vars: bool,
}

/// A parsed `--cpus` list.
#[derive(Debug, Clone)]
pub struct CpuList(pub Vec<usize>);

/// Parses `0-3,6` into `[0, 1, 2, 3, 6]`.
pub fn parse_cpu_list(s: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |x: &str| {
            x.trim()
                .parse::<usize>()
                .map_err(|_| format!("bad CPU number {x:?} in --cpus {s:?}"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b || b - a > 4096 {
                    return Err(format!("bad CPU range {part:?} in --cpus"));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(num(part)?),
        }
    }
    if cpus.is_empty() {
        return Err("--cpus must name at least one CPU".into());
    }
    Ok(CpuList(cpus))
}

/// Runs the agent until SIGTERM/SIGINT.
pub fn run(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::from_file(&args.rules)?;
    let loaded = std::time::SystemTime::now();
    log!(Level::Info, "loaded {}", args.rules.display());
    let mut cfg = ServerConfig::new(args.listen);
    if let Some(CpuList(cpus)) = args.cpus {
        cfg.shards = cpus.len();
        cfg.cpus = Some(cpus);
    }
    if let Some(n) = args.shards {
        cfg.shards = n;
    }
    cfg.max_frame_size = args.max_frame_size;
    cfg.max_connections = args.max_connections;
    cfg.stats_interval = Duration::from_secs(args.stats_interval);
    cfg.result_vars = args.result_vars;
    let audit = start_audit(&engine, &mut cfg)?;
    let ready = Arc::new(AtomicBool::new(false));
    let totals = Arc::new(Mutex::new(Summary::default()));
    cfg.ready = Some(ready.clone());
    let _endpoint = match args.metrics_listen {
        Some(addr) => {
            cfg.live_totals = Some(totals.clone());
            let rs = engine.rules();
            let files = std::iter::once(args.rules.as_path())
                .chain(rs.rules.iter().map(|r| r.span.file.as_path()));
            let state = observe::State {
                totals,
                audit: audit.as_ref().map(AuditLog::stats),
                ready,
                rules: observe::RulesInfo {
                    path: args.rules.display().to_string(),
                    hash: observe::rules_hash(files),
                    rules: rs.rules.iter().filter(|r| !r.is_link).count(),
                    loaded,
                },
            };
            let ep = observe::serve(addr, state)
                .map_err(|e| format!("--metrics-listen {addr}: cannot listen: {e}"))?;
            log!(
                Level::Info,
                "metrics on http://{}/metrics (/ready, /live)",
                ep.local_addr()
            );
            Some(ep)
        }
        None => None,
    };
    let result = server::run(cfg, Arc::new(engine));
    if let Some(a) = audit {
        let stats = a.stats();
        // Every shard is gone: the writer drains what they queued, then stops.
        a.finish();
        log!(
            Level::Info,
            "audit log: {} records written, {} dropped by failed writes",
            stats.written.load(Ordering::Relaxed),
            stats.write_failed.load(Ordering::Relaxed)
        );
    }
    result?;
    Ok(())
}

/// Opens the audit log the rules configure (an error names the directive and its file:line),
/// gives the shards their queues and installs SIGUSR1 (reopen, for logrotate).
fn start_audit(
    engine: &Engine,
    cfg: &mut ServerConfig,
) -> Result<Option<AuditLog>, Box<dyn std::error::Error>> {
    let acfg = &engine.rules().settings.audit;
    if !acfg.possible() {
        return Ok(None);
    }
    let log = AuditLog::start(acfg, cfg.shards, QUEUE_PER_SHARD, |m| {
        log!(Level::Warn, "{m}")
    })?;
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, log.reopen_flag())
        .map_err(|e| format!("cannot install the SIGUSR1 handler: {e}"))?;
    // Past RLIMIT_FSIZE the kernel sends SIGXFSZ, whose default kills the process: handled,
    // the write fails with EFBIG instead and the record is counted as dropped.
    signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        Arc::new(AtomicBool::new(false)),
    )
    .map_err(|e| format!("cannot install the SIGXFSZ handler: {e}"))?;
    cfg.audit = (0..cfg.shards).map(|n| log.sender(n)).collect();
    let target = match acfg.log_type {
        crate::audit::LogType::Serial => acfg.path.as_ref(),
        crate::audit::LogType::Concurrent => acfg.storage_dir.as_ref(),
    };
    log!(
        Level::Info,
        "audit log ({:?}, {:?}, engine {:?}) to {}",
        acfg.log_type,
        acfg.format,
        acfg.engine,
        target.map_or_else(String::new, |p| p.display().to_string())
    );
    Ok(Some(log))
}

#[cfg(test)]
mod tests {
    use super::parse_cpu_list;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,6").unwrap().0, vec![0, 1, 2, 3, 6]);
        assert_eq!(parse_cpu_list("1").unwrap().0, vec![1]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list("").is_err());
    }
}
