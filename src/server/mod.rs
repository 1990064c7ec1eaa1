//! The glommio server: one pinned shard per CPU, SO_REUSEPORT listeners, SPOP connections.
//!
//! Owns start-up (validation, a socket2 pre-flight bind that turns "port in use" into a clear
//! error and resolves port 0, a locked-memory check, one executor thread per shard), the running
//! [`Server`] handle, graceful shutdown and SIGTERM/SIGINT ([`run`]), the unix listener
//! ([`unix`]), the idle timeout, and the per-shard install channel a reload uses ([`swap`]). It is
//! the only module that touches sockets or glommio (SIGHUP belongs to `reload`). Shared state is immutable (`Arc<I>`, the config); each
//! shard owns its adapter scratch and metrics in `Rc<RefCell<_>>`: no lock or atomic on the
//! request path (the only atomic is the shutdown flag, polled by a background task).
//! Generic over [`Inspector`], so tests run it with a test double.

pub mod connection;
pub mod log;
pub mod shard;
pub mod swap;
pub mod unix;

pub use self::unix::UnixSocket;

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::inspect::Inspector;
use crate::metrics::{spawn_reporter, Summary};
use crate::spop::session::{DEFAULT_MAX_FRAME_SIZE, MIN_FRAME_SIZE};

use self::log::{log, Level};

/// Largest max-frame-size we accept in configuration (16 MiB): HAProxy's `tune.bufsize`
/// decides the real size; big bodies need big frames.
pub const MAX_FRAME_SIZE_LIMIT: u32 = 16 << 20;
/// Default HELLO timeout (HAProxy Ingress's own `timeout hello` is 100 ms).
pub const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Default connections per shard.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// io_uring registered-buffer memory per shard. We do network I/O only, so glommio's 10 MiB
/// default for storage buffers would just eat the locked-memory budget.
pub const IO_MEMORY: usize = 64 << 10;
/// io_uring ring depth per ring (glommio makes three rings per shard).
pub const RING_DEPTH: usize = 128;
/// Locked memory one shard may pin: its buffer registered in three rings plus ring headroom.
pub const MEMLOCK_PER_SHARD: u64 = 256 << 10;
/// glommio refuses to start below this RLIMIT_MEMLOCK, whatever the shard count.
pub const MEMLOCK_MIN: u64 = 512 << 10;

/// Validated server configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (port 0: any free port, see [`Server::local_addr`]).
    pub listen: SocketAddr,
    /// Number of shards (executor threads).
    pub shards: usize,
    /// CPUs to pin shard `i` to (`cpus[i % len]`); `None`: no pinning.
    pub cpus: Option<Vec<usize>>,
    /// Our max-frame-size (HAProxy's HELLO may lower it).
    pub max_frame_size: u32,
    /// Connection cap per shard; connections above it get AGENT-DISCONNECT 13 and are closed.
    pub max_connections: usize,
    /// How often merged statistics are logged.
    pub stats_interval: Duration,
    /// A connection without HAPROXY-HELLO by then gets AGENT-DISCONNECT 2 and is closed, so idle
    /// sockets cannot hold connection slots (HAProxy sends HELLO at once).
    pub hello_timeout: Duration,
    /// A connection that sends nothing this long after HELLO gets AGENT-DISCONNECT 2 and is
    /// closed; `None`: never (HAProxy's `timeout idle` closes its side first).
    pub idle_timeout: Option<Duration>,
    /// Listen on this unix socket instead of `listen`.
    pub unix: Option<UnixSocket>,
}

impl ServerConfig {
    /// One shard per available CPU, pinned; defaults for the rest.
    pub fn new(listen: SocketAddr) -> Self {
        let cpus = online_cpus();
        ServerConfig {
            listen,
            shards: cpus.len().max(1),
            cpus: Some(cpus),
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            stats_interval: Duration::from_secs(60),
            hello_timeout: DEFAULT_HELLO_TIMEOUT,
            idle_timeout: None,
            unix: None,
        }
    }

    fn validate(&self) -> Result<(), StartError> {
        let bad = |m: String| Err(StartError::Config(m));
        if self.shards == 0 {
            return bad("--shards must be at least 1".into());
        }
        if !(MIN_FRAME_SIZE..=MAX_FRAME_SIZE_LIMIT).contains(&self.max_frame_size) {
            return bad(format!(
                "--max-frame-size {} out of range {MIN_FRAME_SIZE}..={MAX_FRAME_SIZE_LIMIT}",
                self.max_frame_size
            ));
        }
        if self.max_connections == 0 {
            return bad("--max-connections must be at least 1".into());
        }
        if matches!(&self.cpus, Some(c) if c.is_empty()) {
            return bad("--cpus must name at least one CPU".into());
        }
        if self.hello_timeout.is_zero() {
            return bad("hello timeout must be positive".into());
        }
        if self.stats_interval.is_zero() {
            return bad("--stats-interval must be positive".into());
        }
        Ok(())
    }
}

/// CPUs this process may run on.
pub fn online_cpus() -> Vec<usize> {
    core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default()
}

/// Why the server did not start. Each message says how to fix it.
#[derive(Debug)]
pub enum StartError {
    /// Invalid configuration.
    Config(String),
    /// Another process listens on the address.
    AddrInUse(SocketAddr),
    /// Any other bind failure.
    Bind(SocketAddr, io::Error),
    /// The kernel refused io_uring (EPERM/ENOSYS: seccomp, `kernel.io_uring_disabled`, old kernel).
    IoUringRefused(io::Error),
    /// RLIMIT_MEMLOCK too low for the shard count.
    MemlockTooLow {
        /// Current limit in bytes.
        have: u64,
        /// What the configuration needs.
        need: u64,
    },
    /// Any other executor or thread start-up failure.
    Shard(usize, String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(m) => write!(f, "invalid configuration: {m}"),
            StartError::AddrInUse(a) => write!(
                f,
                "cannot listen on {a}: address already in use; stop the other process \
                 (find it with `ss -ltnp 'sport = :{}'`) or pick another --listen port",
                a.port()
            ),
            StartError::Bind(a, e) => write!(
                f,
                "cannot listen on {a}: {e}; ports below 1024 need CAP_NET_BIND_SERVICE, and the \
                 address must belong to this host"
            ),
            StartError::IoUringRefused(e) => write!(
                f,
                "the kernel refused io_uring ({e}); spoa-waf needs Linux >= 5.8 with io_uring \
                 allowed: check `sysctl kernel.io_uring_disabled` (must be 0) and, in containers, \
                 a seccomp profile that allows io_uring_setup/io_uring_enter/io_uring_register \
                 (Docker: --security-opt seccomp=unconfined or a custom profile)"
            ),
            StartError::MemlockTooLow { have, need } => write!(
                f,
                "locked-memory limit (RLIMIT_MEMLOCK) is {} KiB but {} KiB are needed for io_uring; \
                 raise it with `ulimit -l {}` (shell), LimitMEMLOCK= in the systemd unit, \
                 `--ulimit memlock=-1` (Docker), or use fewer --shards",
                have / 1024,
                need / 1024,
                need / 1024
            ),
            StartError::Shard(n, m) => write!(f, "shard {n} failed to start: {m}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Reads RLIMIT_MEMLOCK (soft) from `/proc/self/limits`; `None` if unlimited or unreadable.
fn memlock_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max locked memory"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Maps an executor start-up error to the operator-facing one.
fn classify_executor_error(shard: usize, e: glommio::GlommioError<()>) -> StartError {
    match e {
        glommio::GlommioError::ReactorError(glommio::ReactorErrorKind::MemLockLimit(
            have,
            need,
        )) => StartError::MemlockTooLow { have, need },
        glommio::GlommioError::IoError(io) => match io.raw_os_error() {
            Some(1) | Some(38) => StartError::IoUringRefused(io), // EPERM, ENOSYS
            Some(12) => StartError::MemlockTooLow {
                have: memlock_limit().unwrap_or(0),
                need: MEMLOCK_MIN,
            },
            _ => StartError::Shard(shard, io.to_string()),
        },
        other => StartError::Shard(shard, other.to_string()),
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    shards: Vec<JoinHandle<()>>,
    reporter: Option<JoinHandle<Summary>>,
}

/// Stops a [`Server`] from anywhere (signal thread, tests).
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<AtomicBool>);

impl ShutdownHandle {
    /// Asks every shard to stop accepting, answer what it has read, send AGENT-DISCONNECT
    /// (status 0) on every connection and exit.
    pub fn shutdown(&self) {
        self.0.store(true, Ordering::Release);
    }
}

impl Server {
    /// Validates `cfg`, binds every shard's listener and returns once all shards accept.
    ///
    /// # Errors
    /// [`StartError`] with an operator-facing fix for each failure.
    pub fn start<I: Inspector>(cfg: ServerConfig, inspector: Arc<I>) -> Result<Server, StartError> {
        Self::start_swappable(cfg, inspector).map(|(s, _)| s)
    }

    /// [`Server::start`], also returning the handle that hands every shard a new inspector
    /// (hot reload).
    ///
    /// # Errors
    /// [`StartError`] with an operator-facing fix for each failure.
    pub fn start_swappable<I: Inspector>(
        cfg: ServerConfig,
        inspector: Arc<I>,
    ) -> Result<(Server, swap::InspectorSwap<I>), StartError> {
        Self::start_with_flag(cfg, inspector, Arc::new(AtomicBool::new(false)))
    }

    /// [`Server::start_swappable`] stopped by `stop` (the flag [`install_stop_signals`] sets).
    ///
    /// # Errors
    /// [`StartError`] with an operator-facing fix for each failure.
    pub fn start_with_flag<I: Inspector>(
        cfg: ServerConfig,
        inspector: Arc<I>,
        stop: Arc<AtomicBool>,
    ) -> Result<(Server, swap::InspectorSwap<I>), StartError> {
        cfg.validate()?;
        if let Some(have) = memlock_limit() {
            let need = (cfg.shards as u64 * MEMLOCK_PER_SHARD).max(MEMLOCK_MIN);
            if have < need {
                return Err(StartError::MemlockTooLow { have, need });
            }
        }
        let listen = match cfg.unix {
            Some(_) => cfg.listen,
            None => preflight_bind(cfg.listen)?,
        };
        // Unix socket: shard 0 accepts and sends each connection to a shard's receiver.
        let mut unix_rx: Vec<glommio::channels::shared_channel::SharedReceiver<_>> = Vec::new();
        let mut unix_tx = Vec::new();
        if cfg.unix.is_some() {
            for _ in 0..cfg.shards {
                let (tx, rx) = glommio::channels::shared_channel::new_bounded(64);
                unix_tx.push(tx);
                unix_rx.push(rx);
            }
        }
        let (stats_tx, stats_rx) = crossbeam::channel::unbounded();
        let reporter = spawn_reporter(stats_rx, cfg.stats_interval, |s| log!(Level::Info, "{s}"))
            .map_err(|e| StartError::Shard(0, format!("stats thread: {e}")))?;
        let mut server = Server {
            local_addr: listen,
            stop: stop.clone(),
            shards: Vec::new(),
            reporter: Some(reporter),
        };
        let mut swaps = Vec::with_capacity(cfg.shards);
        for n in 0..cfg.shards {
            let (ready_tx, ready_rx) = mpsc::channel();
            let (swap_tx, swap_rx) = crossbeam::channel::unbounded();
            swaps.push(swap_tx);
            let ctx = shard::ShardParams {
                index: n,
                listen,
                cpu: cfg.cpus.as_ref().and_then(|c| c.get(n % c.len()).copied()),
                max_frame_size: cfg.max_frame_size,
                max_connections: cfg.max_connections,
                hello_timeout: cfg.hello_timeout,
                idle_timeout: cfg.idle_timeout,
                unix: cfg.unix.as_ref().map(|sock| shard::UnixPlan {
                    incoming: unix_rx.remove(0),
                    acceptor: (n == 0).then(|| (sock.clone(), std::mem::take(&mut unix_tx))),
                }),
                flush_interval: cfg.stats_interval.min(Duration::from_secs(1)),
                stop: stop.clone(),
                stats: stats_tx.clone(),
                swap: swap_rx,
            };
            let inspector = inspector.clone();
            let handle = std::thread::Builder::new()
                .name(format!("shard-{n}"))
                .spawn(move || shard::run_shard(ctx, inspector, ready_tx))
                .map_err(|e| StartError::Shard(n, e.to_string()))?;
            server.shards.push(handle);
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    server.stop.store(true, Ordering::Release);
                    drop(stats_tx);
                    server.join();
                    return Err(e);
                }
                Err(_) => {
                    server.stop.store(true, Ordering::Release);
                    drop(stats_tx);
                    server.join();
                    return Err(StartError::Shard(
                        n,
                        "shard thread exited during start-up".into(),
                    ));
                }
            }
        }
        drop(stats_tx);
        let shown = match &cfg.unix {
            Some(u) => format!("unix:{}", u.path.display()),
            None => listen.to_string(),
        };
        log!(
            Level::Info,
            "listening on {shown} with {} shard(s), max-frame-size {}, max {} connections per shard",
            cfg.shards,
            cfg.max_frame_size,
            cfg.max_connections
        );
        Ok((server, swap::InspectorSwap::new(swaps)))
    }

    /// The bound address (with the real port when the config said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.stop.clone())
    }

    /// Stops the server and waits for it; returns the merged statistics.
    pub fn shutdown(self) -> Summary {
        self.stop.store(true, Ordering::Release);
        self.wait()
    }

    /// Waits until the server stops (after [`ShutdownHandle::shutdown`]); returns the merged
    /// statistics.
    pub fn wait(mut self) -> Summary {
        self.join()
    }

    fn join(&mut self) -> Summary {
        for h in self.shards.drain(..) {
            if h.join().is_err() {
                log!(Level::Error, "a shard thread panicked");
            }
        }
        self.reporter
            .take()
            .and_then(|r| r.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.shards.is_empty() {
            self.stop.store(true, Ordering::Release);
            self.join();
        }
    }
}

/// Binds `addr` once with socket2 to learn which port `:0` means and to turn bind failures
/// into operator-facing errors; the shards then bind the concrete address themselves with
/// SO_REUSEPORT. The probe is closed before they do.
///
/// Why the probe sets SO_REUSEADDR *and* SO_REUSEPORT and looks for listeners in
/// `/proc/net/tcp{,6}` instead: a previous run's connections linger in TIME_WAIT on the listening
/// port (the agent closes first on shutdown), and those sockets inherit the shard listeners'
/// flags: SO_REUSEPORT only, because glommio's `TcpListener::bind` sets nothing else and offers
/// no safe access to its fd. A probe with SO_REUSEADDR alone conflicts with them, so a restart
/// within TIME_WAIT's 60 s failed with "address in use". With SO_REUSEPORT too the kernel lets
/// the probe past TIME_WAIT sockets of the same user, but also past another agent's live
/// SO_REUSEPORT listener (same user: the two would silently split the traffic), hence the
/// explicit LISTEN lookup. Listeners without SO_REUSEPORT still make the bind itself fail.
fn preflight_bind(addr: SocketAddr) -> Result<SocketAddr, StartError> {
    use socket2::{Domain, Socket, Type};
    if addr.port() != 0 && listener_exists(addr) {
        return Err(StartError::AddrInUse(addr));
    }
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)
        .map_err(|e| StartError::Bind(addr, e))?;
    let _ = sock.set_reuse_address(true);
    let _ = sock.set_reuse_port(true);
    sock.bind(&addr.into()).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => StartError::AddrInUse(addr),
        _ => StartError::Bind(addr, e),
    })?;
    // Listening is what makes Linux detect a conflicting listener that set SO_REUSEADDR too.
    sock.listen(1).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => StartError::AddrInUse(addr),
        _ => StartError::Bind(addr, e),
    })?;
    let listener: StdListener = sock.into();
    listener.local_addr().map_err(|e| StartError::Bind(addr, e))
}

/// Whether a socket in LISTEN state holds `addr`'s port on an overlapping address (the same
/// one, or a wildcard on either side), per `/proc/net/tcp` and `/proc/net/tcp6`. Unreadable
/// tables count as "none": the bind then reports what it can.
fn listener_exists(addr: SocketAddr) -> bool {
    let port = format!("{:04X}", addr.port());
    let ours_wild = addr.ip().is_unspecified();
    let ours_hex = proc_net_addr_hex(addr.ip());
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|path| {
        std::fs::read_to_string(path).is_ok_and(|table| {
            table.lines().skip(1).any(|line| {
                let mut fields = line.split_whitespace().skip(1);
                let (Some(local), Some(_remote), Some(state)) =
                    (fields.next(), fields.next(), fields.next())
                else {
                    return false;
                };
                let Some((ip_hex, port_hex)) = local.rsplit_once(':') else {
                    return false;
                };
                state == "0A"
                    && port_hex.eq_ignore_ascii_case(&port)
                    && (ours_wild
                        || ip_hex.bytes().all(|b| b == b'0')
                        || ip_hex.eq_ignore_ascii_case(&ours_hex))
            })
        })
    })
}

/// An address as `/proc/net/tcp{,6}` prints it: each 32-bit word of the network-order address
/// in host (little-endian on every platform glommio supports) order, in hex.
fn proc_net_addr_hex(ip: std::net::IpAddr) -> String {
    let bytes: Vec<u8> = match ip {
        std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    bytes
        .chunks(4)
        .map(|w| {
            w.iter()
                .rev()
                .map(|b| format!("{b:02X}"))
                .collect::<String>()
        })
        .collect()
}

/// Starts the server, stops it on SIGTERM/SIGINT (a second SIGINT exits at once), waits, and
/// returns the merged statistics.
///
/// # Errors
/// [`StartError`] when start-up fails.
pub fn run<I: Inspector>(cfg: ServerConfig, inspector: Arc<I>) -> Result<Summary, StartError> {
    let flag = install_stop_signals()?;
    let (server, _swap) = Server::start_with_flag(cfg, inspector, flag)?;
    let summary = server.wait();
    log!(Level::Info, "stopped");
    Ok(summary)
}

/// Installs SIGTERM/SIGINT handlers that set the returned flag (a second SIGINT exits at once).
/// Call it before [`Server::start_with_flag`], so no signal finds the default action.
///
/// # Errors
/// [`StartError::Shard`] when the handlers cannot be installed.
pub fn install_stop_signals() -> Result<Arc<AtomicBool>, StartError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    // SIGTERM drains, however often it comes (`timeout(1)` and some supervisors send it to the
    // process and again to its group). A second SIGINT (Ctrl-C twice) exits at once.
    signal_hook::flag::register_conditional_shutdown(SIGINT, 130, flag.clone())
        .and_then(|_| signal_hook::flag::register(SIGINT, flag.clone()))
        .and_then(|_| signal_hook::flag::register(SIGTERM, flag.clone()))
        .map_err(|e| StartError::Shard(0, format!("cannot install signal handlers: {e}")))?;
    Ok(flag)
}

#[cfg(test)]
mod tests {
    use super::{listener_exists, preflight_bind, proc_net_addr_hex, StartError};

    #[test]
    fn proc_net_addresses_are_word_swapped_hex() {
        assert_eq!(proc_net_addr_hex("127.0.0.1".parse().unwrap()), "0100007F");
        assert_eq!(
            proc_net_addr_hex("::1".parse().unwrap()),
            "00000000000000000000000001000000"
        );
    }

    #[test]
    fn a_live_listener_is_found_and_refused() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        assert!(listener_exists(addr));
        assert!(listener_exists(
            format!("0.0.0.0:{}", addr.port()).parse().unwrap()
        ));
        assert!(matches!(preflight_bind(addr), Err(StartError::AddrInUse(a)) if a == addr));
        drop(taken);
        assert!(!listener_exists(addr));
        assert_eq!(preflight_bind(addr).unwrap(), addr);
    }
}
