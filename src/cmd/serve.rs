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
use crate::reload;
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
    /// Reload when the rules file's directory changes (SIGHUP always reloads). Kubernetes
    /// ConfigMap updates are symlink swaps in that directory.
    #[arg(long)]
    pub watch: bool,
    /// More files or directories to watch (repeatable; implies --watch).
    #[arg(long = "watch-path", value_name = "PATH")]
    pub watch_paths: Vec<PathBuf>,
    /// How often watched paths are checked, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub watch_interval_ms: u64,
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

/// Runs the agent until SIGTERM/SIGINT; SIGHUP (and `--watch`) reload the rules.
pub fn run(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let rules = args.rules.clone();
    let build = move || {
        Engine::from_file(&rules)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    };
    let engine = build()?;
    log!(Level::Info, "loaded {}", args.rules.display());
    let mut watch = args.watch_paths.clone();
    if args.watch || !watch.is_empty() {
        watch.push(watch_dir_of(&args.rules));
    }
    let cfg = server_config(&args);
    serve(cfg, engine, Box::new(build), &watch, args.watch_interval_ms)
}

/// The directory holding `file` (what `--watch` watches: a ConfigMap swap replaces the
/// directory's `..data` link, not the file).
fn watch_dir_of(file: &std::path::Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Starts the server with `first`, reloads with `build` on SIGHUP and on changes of `watch`,
/// and runs until SIGTERM/SIGINT.
fn serve<I: crate::inspect::Inspector>(
    cfg: ServerConfig,
    first: Arc<I>,
    build: Box<dyn FnMut() -> Result<Arc<I>, String> + Send>,
    watch: &[PathBuf],
    watch_interval_ms: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let stop = server::install_stop_signals()?;
    let sighup = reload::Sighup::install()?;
    let (server, swap) = server::Server::start_with_flag(cfg, first, stop)?;
    let handle = reload::spawn(reload::Reloader {
        build,
        swap,
        hooks: Vec::new(),
    })?;
    sighup.forward_to(handle.clone())?;
    if !watch.is_empty() {
        let every = Duration::from_millis(watch_interval_ms.max(10));
        reload::watch::spawn(watch.to_vec(), every, handle)?;
    }
    server.wait();
    log!(Level::Info, "stopped");
    Ok(())
}

fn server_config(args: &ServeArgs) -> ServerConfig {
    let mut cfg = ServerConfig::new(args.listen);
    if let Some(CpuList(cpus)) = &args.cpus {
        cfg.shards = cpus.len();
        cfg.cpus = Some(cpus.clone());
    }
    if let Some(n) = args.shards {
        cfg.shards = n;
    }
    cfg.max_frame_size = args.max_frame_size;
    cfg.max_connections = args.max_connections;
    cfg.stats_interval = Duration::from_secs(args.stats_interval);
    cfg
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
