//! Listener options: `--listen unix:/path` (mode, shards sharing one socket, live behind
//! Debian's HAProxy as `unix@/path`) and the idle timeout after HELLO.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use spoa_waf::server::{Server, ServerConfig, UnixSocket};
use spoa_waf::spop::{self, decode_frame, FrameType, MessageSpec, Metadata, TypedData};

use crate::haproxy::{haproxy_available, Haproxy, Mode};
use crate::util::*;

#[test]
fn an_idle_connection_after_hello_is_closed_with_timeout_status() {
    let agent = start_agent(1, |c| c.idle_timeout = Some(Duration::from_millis(300)));
    let mut idle = SpopClient::connect(agent.local_addr());
    idle.hello(16380);
    let mut busy = SpopClient::connect(agent.local_addr());
    busy.hello(16380);
    let t0 = Instant::now();
    // The busy one sends a NOTIFY every 100 ms for 900 ms and stays open.
    for i in 0..9u64 {
        std::thread::sleep(Duration::from_millis(100));
        let mut b = BytesMut::new();
        spop::encode_notify(
            &mut b,
            Metadata {
                stream_id: i,
                frame_id: 1,
            },
            &[MessageSpec {
                name: b"check-request",
                args: &[(&b""[..], TypedData::Null); 8],
            }],
        );
        busy.send(&b);
        assert_eq!(busy.read_frame().expect("ACK").ftype, FrameType::Ack);
    }
    let f = idle.read_frame().expect("AGENT-DISCONNECT");
    assert_eq!(disconnect_status(&f), 2, "timeout");
    assert!(idle.closed());
    assert!(t0.elapsed() >= Duration::from_millis(300));
    let s = agent.shutdown();
    assert_eq!(s.counters.errors.iter().sum::<u64>(), 0, "{s}");
}

/// HELLO and one NOTIFY over a unix socket; the ACK's frame type.
fn unix_exchange(path: &std::path::Path) -> FrameType {
    let mut s = UnixStream::connect(path).expect("connect to the unix socket");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut b = BytesMut::new();
    spop::encode_haproxy_hello(&mut b, b"2.0", 16380, b"pipelining", None, false);
    spop::encode_notify(
        &mut b,
        Metadata {
            stream_id: 1,
            frame_id: 1,
        },
        &[MessageSpec {
            name: b"check-request",
            args: &[(&b""[..], TypedData::Null); 8],
        }],
    );
    s.write_all(&b).unwrap();
    let mut buf = Vec::new();
    let mut types = Vec::new();
    while types.len() < 2 {
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "closed early");
        buf.extend_from_slice(&chunk[..n]);
        while let Some((f, used)) = decode_frame(&buf, u32::MAX).unwrap() {
            types.push(f.ftype);
            buf.drain(..used);
        }
    }
    assert_eq!(types[0], FrameType::AgentHello);
    types[1]
}

#[test]
fn a_unix_socket_serves_every_shard_with_its_mode() {
    let dir = temp_dir("unix");
    let path = dir.join("waf.sock");
    // A stale socket file from a crashed run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.shards = 2;
    cfg.cpus = None;
    cfg.unix = Some(UnixSocket {
        path: path.clone(),
        mode: 0o600,
        owner: None,
    });
    let server = Server::start(cfg, Arc::new(TestInspector)).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600);
    for _ in 0..6 {
        assert_eq!(unix_exchange(&path), FrameType::Ack);
    }
    // A second agent on the same live socket is refused.
    let mut again = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    again.shards = 1;
    again.cpus = None;
    again.unix = Some(UnixSocket {
        path: path.clone(),
        mode: 0o600,
        owner: None,
    });
    let err = Server::start(again, Arc::new(TestInspector)).unwrap_err();
    assert!(err.to_string().contains("listens on it"), "{err}");
    let s = server.shutdown();
    // Six clients and the second agent's probe of the live socket.
    assert_eq!(s.counters.connections, 7, "{s}");
    assert_eq!(s.counters.acks, 6, "{s}");
    assert!(!path.exists(), "the socket file is removed at shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn haproxy_reaches_the_binary_over_a_unix_socket() {
    assert!(
        haproxy_available(),
        "/usr/sbin/haproxy missing: run tests/setup-debian.sh"
    );
    let dir = temp_dir("unix-live");
    let path = dir.join("waf.sock");
    let listen = format!("unix:{}", path.display());
    let rules = repo_root().join("tests/data/rules/seed.conf");
    let (_agent, _log) = crate::apps::start_binary(&[
        "serve".as_ref(),
        "--rules".as_ref(),
        rules.as_os_str(),
        "--listen".as_ref(),
        listen.as_ref(),
        "--socket-mode".as_ref(),
        "660".as_ref(),
        "--shards".as_ref(),
        "2".as_ref(),
    ]);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o660
    );
    let h = Haproxy::start_at(Mode::Classic, &format!("unix@{}", path.display()));
    assert_eq!(h.get("/?q=hello").0, 200, "{:?}", h.log());
    assert_eq!(h.get("/?p=/etc/passwd").0, 403);
    for i in 0..4 {
        assert_eq!(h.get(&format!("/x/{i}")).0, 200);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
