//! Shared test harness: an in-process agent on `127.0.0.1:0` with a test inspector, a raw SPOP
//! client, a raw HTTP client, child processes killed on drop, and deadline polling (no sleeps
//! as synchronisation).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use spoa_waf::inspect::{
    Disruption, DisruptiveAction, HttpRequest, HttpResponse, Inspector, Verdict,
};
use spoa_waf::server::{Server, ServerConfig};
use spoa_waf::spop::{self, decode_frame, FrameFlags, FrameType, Metadata};

/// Blocks requests whose query, path or body contains `/etc/passwd` (rule 930120, 403), like
/// the seed rule; panics on method `PANIC` (to exercise the internal-error path).
#[derive(Debug, Default)]
pub struct TestInspector;

fn contains(h: &[u8], n: &[u8]) -> bool {
    h.windows(n.len()).any(|w| w == n)
}

impl Inspector for TestInspector {
    type Scratch = ();

    fn new_scratch(&self) {}

    fn inspect_request(&self, _: &mut (), req: &HttpRequest<'_>) -> Verdict {
        if req.method == b"PANIC" {
            panic!("TestInspector: method PANIC");
        }
        let hit = [req.query.unwrap_or_default(), req.path, req.body]
            .iter()
            .any(|p| contains(p, b"/etc/passwd"));
        if !hit {
            return Verdict::pass();
        }
        Verdict {
            disruption: Some(Disruption {
                action: DisruptiveAction::Deny,
                status: 403,
                rule_id: 930120,
                redirect_url: String::new(),
                phase: 2,
            }),
            logged_rule_ids: vec![930120],
            log_lines: vec![
                "ModSecurity: Access denied with code 403 (phase 2). Matched phrase \"/etc/passwd\" [id \"930120\"] [msg \"test inspector\"]"
                    .into(),
            ],
            anomaly_score: 5,
            ..Verdict::default()
        }
    }

    fn inspect_response(&self, _: &mut (), res: &HttpResponse<'_>) -> Verdict {
        let _ = res;
        Verdict::pass()
    }
}

/// Starts an in-process agent with the test inspector on `127.0.0.1:0`.
pub fn start_agent(shards: usize, tweak: impl FnOnce(&mut ServerConfig)) -> Server {
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.shards = shards;
    cfg.cpus = None; // the test machine is shared: let the scheduler place shards
    tweak(&mut cfg);
    Server::start(cfg, Arc::new(TestInspector)).expect("agent starts")
}

/// Polls `f` until it returns `Some` or the deadline passes.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::yield_now();
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

/// One owned frame read back from the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedFrame {
    pub ftype: FrameType,
    pub flags: FrameFlags,
    pub meta: Metadata,
    pub payload: Vec<u8>,
}

/// A raw SPOP client playing HAProxy.
pub struct SpopClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl SpopClient {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect to agent");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        SpopClient {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to agent");
    }

    /// Sends a HAPROXY-HELLO like HAProxy 2.6 and returns the AGENT-HELLO.
    pub fn hello(&mut self, max_frame_size: u32) -> OwnedFrame {
        let mut b = BytesMut::new();
        spop::encode_haproxy_hello(
            &mut b,
            b"2.0",
            max_frame_size,
            b"pipelining,async",
            Some(b"test-engine"),
            false,
        );
        self.send(&b);
        let f = self.read_frame().expect("AGENT-HELLO");
        assert_eq!(f.ftype, FrameType::AgentHello, "{f:?}");
        f
    }

    /// Reads one frame; `None` on EOF (or read timeout).
    pub fn read_frame(&mut self) -> Option<OwnedFrame> {
        loop {
            if let Some((f, n)) =
                decode_frame(&self.buf, u32::MAX).expect("agent sends well-formed frames")
            {
                let owned = OwnedFrame {
                    ftype: f.ftype,
                    flags: f.flags,
                    meta: f.meta,
                    payload: f.payload.to_vec(),
                };
                self.buf.drain(..n);
                return Some(owned);
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Whether the agent closed the connection (EOF with nothing buffered).
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0)) && self.buf.is_empty()
    }
}

/// `(name, value)` of every SET-VAR in an ACK payload, values as owned debug strings.
pub fn ack_vars(payload: &[u8]) -> Vec<(String, String)> {
    spop::Actions::new(payload)
        .map(|a| match a.expect("well-formed actions") {
            spop::Action::SetVar { scope, name, value } => {
                assert_eq!(scope, spop::VarScope::Txn);
                let v = match value {
                    spop::TypedData::String(s) => String::from_utf8_lossy(s).into_owned(),
                    other => other
                        .as_int()
                        .map_or_else(|| format!("{other:?}"), |i| i.to_string()),
                };
                (String::from_utf8_lossy(name).into_owned(), v)
            }
            other => panic!("unexpected action {other:?}"),
        })
        .collect()
}

/// The status code of an AGENT-DISCONNECT.
pub fn disconnect_status(f: &OwnedFrame) -> u32 {
    assert_eq!(f.ftype, FrameType::AgentDisconnect, "{f:?}");
    assert!(f.flags.fin());
    spop::Disconnect::parse(&f.payload).unwrap().status_code
}

/// A port that was free a moment ago (for child processes that need a number up front).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh private directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "spoa-waf-it-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A child process killed (and reaped) on drop.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends one HTTP/1.1 request and returns the status code and the raw response.
pub fn http_get(
    addr: SocketAddr,
    target: &str,
    extra_headers: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {target} HTTP/1.1\r\nHost: example.com\r\nUser-Agent: spoa-waf-it\r\n{extra_headers}Connection: close\r\n\r\n")?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
    Ok((code, text))
}

/// The repository root (where `tests/` lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether the kernel holds a TCP socket in `state` (hex code of `/proc/net/tcp`: `06`
/// TIME_WAIT, `0A` LISTEN) with local port `port`, over IPv4 and IPv6.
pub fn tcp_socket_in_state(port: u16, state: &str) -> bool {
    let want = format!("{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|path| {
        std::fs::read_to_string(path).is_ok_and(|table| {
            table.lines().skip(1).any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 3
                    && f[1].rsplit(':').next() == Some(want.as_str())
                    && f[3].eq_ignore_ascii_case(state)
            })
        })
    })
}
