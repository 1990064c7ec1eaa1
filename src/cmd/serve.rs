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

use crate::config::apps::{Applications, Store};
use crate::config::FileConfig;
use crate::engine::Engine;
use crate::notify;
use crate::reload;
use crate::server::log::{log, Level};
use crate::server::{self, ServerConfig, DEFAULT_MAX_CONNECTIONS};
use crate::spop::session::DEFAULT_MAX_FRAME_SIZE;

/// Arguments of `spoa-waf serve`. Every setting except `--rules`/`--config` can also be set
/// in the `--config` file (same name, `_` for `-`); a flag given here wins over the file.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["rules", "config"])))]
pub struct ServeArgs {
    /// SecLang configuration to load (one application, `default`).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// coraza-spoa v0.7 YAML configuration (applications, bind, ...), read unchanged.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on: `IP:PORT` (default 0.0.0.0:12345) or `unix:/path`.
    #[arg(long)]
    pub listen: Option<String>,
    /// The CRS 4 directory `@owasp_crs/` and `@crs-setup.conf.example` resolve to (default
    /// /usr/share/modsecurity-crs).
    #[arg(long)]
    pub crs_dir: Option<PathBuf>,
    /// With --rules: keep each coraza-req transaction for its coraza-res.
    #[arg(long)]
    pub response_check: bool,
    /// With --rules: how long a transaction waits for its response (default 60000).
    #[arg(long)]
    pub transaction_ttl_ms: Option<u64>,
    /// Transactions kept for responses at most, over all shards (default 65536).
    #[arg(long)]
    pub max_transactions: Option<usize>,
    /// Number of shards (default: one per available CPU, or one per --cpus entry).
    #[arg(long)]
    pub shards: Option<usize>,
    /// CPUs to pin shards to, e.g. `0-3,6` (default: all available CPUs).
    #[arg(long)]
    pub cpus: Option<String>,
    /// Largest SPOP frame accepted; HAProxy's HELLO may lower it (its default is 16380 =
    /// tune.bufsize - 4). Raise it together with HAProxy's tune.bufsize for large bodies.
    #[arg(long)]
    pub max_frame_size: Option<u32>,
    /// Connections per shard; further connections get AGENT-DISCONNECT 13 (default 4096).
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Seconds between statistics lines (default 60).
    #[arg(long)]
    pub stats_interval: Option<u64>,
    /// Close connections that send no HAPROXY-HELLO within this time (default 10000).
    #[arg(long)]
    pub hello_timeout_ms: Option<u64>,
    /// Close connections idle this long after HELLO (default 0: never; HAProxy's own
    /// `timeout idle` closes its side).
    #[arg(long)]
    pub idle_timeout_ms: Option<u64>,
    /// Reload when the rules' or config's directory changes (SIGHUP always reloads).
    /// Kubernetes ConfigMap updates are symlink swaps in that directory.
    #[arg(long)]
    pub watch: bool,
    /// More files or directories to watch (repeatable; implies --watch).
    #[arg(long = "watch-path", value_name = "PATH")]
    pub watch_paths: Vec<PathBuf>,
    /// How often watched paths are checked, in milliseconds (default 1000).
    #[arg(long)]
    pub watch_interval_ms: Option<u64>,
    /// Permissions of a unix socket, octal (default 660).
    #[arg(long)]
    pub socket_mode: Option<String>,
    /// Owner of a unix socket, `user[:group]` (names or numbers).
    #[arg(long)]
    pub socket_owner: Option<String>,
    /// Serve `/metrics` (Prometheus/OpenMetrics text), `/ready` and `/live` on this address
    /// (`IP:PORT`), on a thread of its own. Off by default.
    #[arg(long)]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Also answer with variables for HAProxy's log-format: `rule_ids` (ids of the rules that
    /// logged, comma-separated) in both dialects and `anomaly_score` in the classic one
    /// (`txn.modsec.rule_ids`, `txn.modsec.anomaly_score`). Off: the HAProxy Ingress contract.
    #[arg(long)]
    pub result_vars: bool,
    /// Only peers in these networks may connect (`10.0.0.0/8,2001:db8::/32`); others are
    /// closed at accept, logged and counted (`connections_denied`).
    #[arg(long, value_parser = crate::access::AllowList::parse)]
    pub allow_from: Option<crate::access::AllowList>,
    /// Seconds connections get after SIGTERM/SIGINT to answer what they have read and send
    /// AGENT-DISCONNECT before the agent exits anyway (default 5).
    #[arg(long)]
    pub shutdown_grace: Option<u64>,
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

/// Everything `serve` needs, flags merged over the file.
struct Settings {
    server: ServerConfig,
    watch: Vec<PathBuf>,
    watch_interval: Duration,
    crs_dir: PathBuf,
    max_transactions: usize,
}

fn settings(args: &ServeArgs, file: Option<&FileConfig>) -> Result<Settings, String> {
    let f = file.cloned().unwrap_or_default();
    let listen = args
        .listen
        .clone()
        .or(f.bind.clone())
        .unwrap_or_else(|| "0.0.0.0:12345".into());
    let mut cfg = match parse_listen(&listen)? {
        Listen::Tcp(a) => ServerConfig::new(a),
        Listen::Unix(path) => {
            let mut c = ServerConfig::new("127.0.0.1:0".parse().expect("literal"));
            let mode = args
                .socket_mode
                .as_ref()
                .or(f.socket_mode.as_ref())
                .map(|m| {
                    u32::from_str_radix(m.trim_start_matches("0o"), 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| format!("--socket-mode {m:?}: expected octal, e.g. 660"))
                })
                .transpose()?
                .unwrap_or(0o660);
            let owner = args
                .socket_owner
                .as_ref()
                .or(f.socket_owner.as_ref())
                .map(|o| parse_owner(o))
                .transpose()?;
            c.unix = Some(crate::server::UnixSocket { path, mode, owner });
            c
        }
    };
    if let Some(ms) = args.idle_timeout_ms.or(f.idle_timeout_ms) {
        cfg.idle_timeout = (ms > 0).then(|| Duration::from_millis(ms));
    }
    if let Some(c) = args.cpus.as_ref().or(f.cpus.as_ref()) {
        let CpuList(cpus) = parse_cpu_list(c)?;
        cfg.shards = cpus.len();
        cfg.cpus = Some(cpus);
    }
    if let Some(n) = args.shards.or(f.shards) {
        cfg.shards = n;
    }
    cfg.max_frame_size = args
        .max_frame_size
        .or(f.max_frame_size)
        .unwrap_or(DEFAULT_MAX_FRAME_SIZE);
    cfg.max_connections = args
        .max_connections
        .or(f.max_connections)
        .unwrap_or(DEFAULT_MAX_CONNECTIONS);
    cfg.stats_interval =
        Duration::from_secs(args.stats_interval.or(f.stats_interval).unwrap_or(60));
    if let Some(ms) = args.hello_timeout_ms.or(f.hello_timeout_ms) {
        cfg.hello_timeout = Duration::from_millis(ms);
    }
    cfg.allow_from = args.allow_from.clone();
    if let Some(s) = args.shutdown_grace {
        cfg.shutdown_grace = Duration::from_secs(s);
    }
    let source = args.config.as_ref().or(args.rules.as_ref());
    let mut watch = args.watch_paths.clone();
    watch.extend(f.watch_paths.iter().cloned());
    if args.watch || f.watch == Some(true) || !watch.is_empty() {
        if let Some(src) = source {
            watch.push(watch_dir_of(src));
        }
    }
    let base = args
        .config
        .as_deref()
        .map(watch_dir_of)
        .unwrap_or_else(|| PathBuf::from("."));
    let crs_dir = args
        .crs_dir
        .clone()
        .or(f.crs_dir.map(|d| base.join(d)))
        .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_CRS_DIR));
    Ok(Settings {
        server: cfg,
        watch,
        watch_interval: Duration::from_millis(
            args.watch_interval_ms
                .or(f.watch_interval_ms)
                .unwrap_or(1000)
                .max(10),
        ),
        crs_dir,
        max_transactions: args
            .max_transactions
            .or(f.max_transactions)
            .unwrap_or(crate::config::apps::DEFAULT_MAX_TRANSACTIONS),
    })
}

enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// `IP:PORT`, `host:port`, `unix:/path` or coraza-spoa's `unix:///path`.
fn parse_listen(s: &str) -> Result<Listen, String> {
    use std::net::ToSocketAddrs;
    if let Some(rest) = s.strip_prefix("unix:") {
        // `unix:///run/x.sock` (a URL) and `unix:/run/x.sock` name the same file.
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(format!("--listen/bind {s:?}: no socket path"));
        }
        return Ok(Listen::Unix(PathBuf::from(path)));
    }
    s.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(Listen::Tcp)
        .ok_or_else(|| format!("--listen/bind {s:?}: expected IP:PORT or unix:/path"))
}

/// `user[:group]`, names (from /etc/passwd, /etc/group) or numbers.
fn parse_owner(s: &str) -> Result<(Option<u32>, Option<u32>), String> {
    let (user, group) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let lookup = |file: &str, name: &str| -> Result<Option<u32>, String> {
        if name.is_empty() {
            return Ok(None);
        }
        if let Ok(n) = name.parse() {
            return Ok(Some(n));
        }
        std::fs::read_to_string(file)
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    let mut f = l.split(':');
                    (f.next() == Some(name)).then(|| f.nth(1)?.parse().ok())?
                })
            })
            .map(Some)
            .ok_or_else(|| format!("--socket-owner {s:?}: no {name:?} in {file}"))
    };
    Ok((
        lookup("/etc/passwd", user)?,
        lookup("/etc/group", group.unwrap_or(""))?,
    ))
}

/// Runs the agent until SIGTERM/SIGINT; SIGHUP (and `--watch`) reload the rules.
pub fn run(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    // Before the rules compile (seconds when the cache is cold): a refused io_uring is the
    // first thing to know, and glommio would only panic about old kernels.
    crate::preflight::io_uring()?;
    let file = match &args.config {
        Some(p) => Some(FileConfig::load(p)?),
        None => None,
    };
    let st = settings(&args, file.as_ref())?;
    if let Some(f) = &file {
        for note in f.unsupported() {
            log!(Level::Info, "{note}");
        }
    }
    // One store for every generation: a response after a reload still finds its request.
    let store = Arc::new(Store::new(st.max_transactions));
    let kept = store.clone();
    let mut build: Box<dyn FnMut() -> Result<Arc<Applications>, String> + Send> =
        match (&args.config, &args.rules) {
            (Some(path), _) => {
                let (path, crs) = (path.clone(), st.crs_dir.clone());
                Box::new(move || {
                    let cfg = FileConfig::load(&path).map_err(|e| e.to_string())?;
                    Applications::build(&cfg, &path, &crs)
                        .map(|a| Arc::new(a.with_store(kept.clone())))
                })
            }
            (None, Some(rules)) => {
                let rules = rules.clone();
                let check = args.response_check;
                let ttl = Duration::from_millis(
                    args.transaction_ttl_ms
                        .unwrap_or(crate::config::DEFAULT_TTL_MS),
                );
                Box::new(move || {
                    Engine::from_file(&rules)
                        .map(|e| {
                            Arc::new(Applications::single(e, check, ttl).with_store(kept.clone()))
                        })
                        .map_err(|e| e.to_string())
                })
            }
            (None, None) => unreachable!("clap requires --rules or --config"),
        };
    let first = build()?;
    for a in first.apps() {
        log!(
            Level::Info,
            "application {:?}{}: response_check {}, transaction_ttl_ms {}",
            a.name,
            if std::ptr::eq(a, first.default_app()) {
                " (default)"
            } else {
                ""
            },
            a.response_check,
            a.ttl.as_millis()
        );
    }
    log!(
        Level::Info,
        "loaded {} ({} application(s), {} compilation(s))",
        args.config
            .as_ref()
            .or(args.rules.as_ref())
            .map_or_else(String::new, |p| p.display().to_string()),
        first.apps().len(),
        first.compilations()
    );
    let mut cfg = st.server;
    cfg.result_vars = args.result_vars;
    // The audit log and the metrics endpoint follow the default application's rules as loaded
    // at start (a reload does not move the audit log).
    let engine = first.engine(first.default_app()).clone();
    let audit = start_audit(&engine, &mut cfg)?;
    let ready = Arc::new(AtomicBool::new(false));
    cfg.ready = Some(ready.clone());
    let _endpoint = match args.metrics_listen {
        Some(addr) => {
            let totals = Arc::new(Mutex::new(Summary::default()));
            cfg.live_totals = Some(totals.clone());
            let rs = engine.rules();
            let main_file = args.config.as_ref().or(args.rules.as_ref()).cloned();
            let files = main_file
                .iter()
                .map(PathBuf::as_path)
                .chain(rs.rules.iter().map(|r| r.span.file.as_path()));
            let hash = observe::rules_hash(files);
            let state = observe::State {
                totals,
                audit: audit.as_ref().map(AuditLog::stats),
                ready,
                rules: observe::RulesInfo {
                    path: main_file
                        .as_ref()
                        .map_or_else(String::new, |p| p.display().to_string()),
                    hash,
                    rules: rs.rules.iter().filter(|r| !r.is_link).count(),
                    loaded: std::time::SystemTime::now(),
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
    let source = args
        .config
        .as_ref()
        .or(args.rules.as_ref())
        .map_or_else(String::new, |p| p.display().to_string());
    let result = serve(cfg, first, build, &st.watch, st.watch_interval, &source);
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
    let k = store.stats();
    log!(
        Level::Info,
        "transactions for responses: kept={} joined={} expired={} evicted={} unknown_responses={}",
        k.kept,
        k.joined,
        k.expired,
        k.evicted,
        k.unknown
    );
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

/// What else hears about reloads (e.g. systemd's `RELOADING=1`/`READY=1`); each module adds
/// its [`reload::Hook`] here.
fn reload_hooks() -> Vec<reload::Hook> {
    vec![Box::new(|e: &reload::ReloadEvent| match e {
        reload::ReloadEvent::Started(_) => notify::reloading("reloading the rules"),
        reload::ReloadEvent::Done { generation, shards } => notify::ready(&format!(
            "serving rule set generation {generation} on {shards} shard(s)"
        )),
        reload::ReloadEvent::Failed { reason } => {
            notify::ready(&format!("reload failed, the previous rules stay: {reason}"))
        }
    })]
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
    watch_interval: Duration,
    source: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let stop = server::install_stop_signals()?;
    let sighup = reload::Sighup::install()?;
    let shards = cfg.shards;
    let (server, swap) = server::Server::start_with_flag(cfg, first, stop)?;
    notify::ready(&format!(
        "serving {source} (rule set generation 1) on {} with {shards} shard(s)",
        server.local_addr()
    ));
    let handle = reload::spawn(reload::Reloader {
        build,
        swap,
        hooks: reload_hooks(),
    })?;
    sighup.forward_to(handle.clone())?;
    if !watch.is_empty() {
        reload::watch::spawn(watch.to_vec(), watch_interval, handle)?;
    }
    server.wait();
    log!(Level::Info, "stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_cpu_list;

    #[test]
    fn listen_addresses_and_owners() {
        use super::{parse_listen, parse_owner, Listen};
        assert!(
            matches!(parse_listen("unix:///run/w.sock"), Ok(Listen::Unix(p)) if p.to_str() == Some("/run/w.sock"))
        );
        assert!(
            matches!(parse_listen("unix:/run/w.sock"), Ok(Listen::Unix(p)) if p.to_str() == Some("/run/w.sock"))
        );
        assert!(matches!(parse_listen("127.0.0.1:9000"), Ok(Listen::Tcp(a)) if a.port() == 9000));
        assert!(parse_listen("unix:").is_err());
        assert!(parse_listen("nonsense").is_err());
        assert_eq!(parse_owner("0:0").unwrap(), (Some(0), Some(0)));
        assert_eq!(parse_owner("root").unwrap(), (Some(0), None));
        assert!(parse_owner("no-such-user-xyz").is_err());
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,6").unwrap().0, vec![0, 1, 2, 3, 6]);
        assert_eq!(parse_cpu_list("1").unwrap().0, vec![1]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list("").is_err());
    }
}
