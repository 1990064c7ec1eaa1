//! `spoa-waf serve`: load the rules, start the shards, run until SIGTERM/SIGINT.
//!
//! Owns the command-line surface of the server and its translation into a
//! [`crate::server::ServerConfig`]; refuses to start on any invalid value, with a message that
//! names the flag.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::Engine;
use crate::notify;
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
    // Before the rules compile (seconds when the cache is cold): a refused io_uring is the
    // first thing to know, and glommio would only panic about old kernels.
    crate::preflight::io_uring()?;
    let engine = Engine::from_file(&args.rules)?;
    let rule_count = engine.rules().rules.len();
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
    let (shards, rules) = (cfg.shards, args.rules.display().to_string());
    server::run(cfg, Arc::new(engine), |s| {
        notify::ready(&format!(
            "serving {rule_count} rules from {rules} on {} with {shards} shard(s)",
            s.local_addr()
        ));
    })?;
    Ok(())
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
