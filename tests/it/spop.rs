//! SPOP over raw TCP against the in-process server (`127.0.0.1:0`, test inspector).

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use bytes::BytesMut;
use spoa_waf::server::{Server, ServerConfig, StartError};
use spoa_waf::spop::{self, AgentHello, FrameType, MessageSpec, Metadata, TypedData};

use crate::util::*;

/// The 8 positional `check-request` args; `query` decides the verdict.
fn check_request(out: &mut BytesMut, sid: u64, fid: u64, query: &[u8]) {
    let args: [(&[u8], TypedData<'_>); 8] = [
        (b"", TypedData::Null),
        (b"", TypedData::String(b"GET")),
        (b"", TypedData::String(b"/")),
        (b"", TypedData::String(query)),
        (b"", TypedData::String(b"1.1")),
        (b"", TypedData::Binary(b"\x04host\x0bexample.com\x00\x00")),
        (b"", TypedData::Int64(0)),
        (b"", TypedData::Null),
    ];
    spop::encode_notify(
        out,
        Metadata {
            stream_id: sid,
            frame_id: fid,
        },
        &[MessageSpec {
            name: b"check-request",
            args: &args,
        }],
    );
}

#[test]
fn hello_negotiates_version_frame_size_and_pipelining() {
    let agent = start_agent(1, |_| {});
    let mut c = SpopClient::connect(agent.local_addr());
    let f = c.hello(8192);
    assert_eq!((f.flags.0, f.meta), (1, Metadata::default()));
    let h = AgentHello::parse(&f.payload).unwrap();
    assert_eq!(h.version, Some(&b"2.0"[..]));
    assert_eq!(h.max_frame_size, Some(8192)); // min(ours 16380, HAProxy's 8192)
    assert_eq!(h.capabilities, Some(&b"pipelining"[..]));
}

#[test]
fn pipelined_notifies_are_all_acked_with_their_ids() {
    let agent = start_agent(1, |_| {});
    let mut c = SpopClient::connect(agent.local_addr());
    c.hello(16380);
    // HAProxy ≤ 3.0 ids (stream 0 included) and ≥ 3.1 odd ids, all in one write.
    let mut batch = BytesMut::new();
    let mut want = BTreeSet::new();
    for i in 0..40u64 {
        let (sid, fid) = if i < 20 {
            (i / 2, 1 + i % 2)
        } else {
            (2 * i + 1, 1)
        };
        let query: &[u8] = if i % 7 == 0 {
            b"p=/etc/passwd"
        } else {
            b"p=ok"
        };
        check_request(&mut batch, sid, fid, query);
        want.insert((sid, fid, if i % 7 == 0 { "403" } else { "0" }.to_string()));
    }
    c.send(&batch);
    let mut got = BTreeSet::new();
    for _ in 0..40 {
        let f = c.read_frame().expect("one ACK per NOTIFY");
        assert_eq!(f.ftype, FrameType::Ack);
        assert!(f.flags.fin());
        let vars = ack_vars(&f.payload);
        assert_eq!(vars.len(), 1);
        assert_eq!(vars[0].0, "code");
        got.insert((f.meta.stream_id, f.meta.frame_id, vars[0].1.clone()));
    }
    assert_eq!(got, want);
    let summary = agent.shutdown();
    assert_eq!(summary.counters.notifies, 40);
    assert_eq!(summary.counters.acks, 40);
    assert_eq!(summary.counters.blocked, 6);
    assert_eq!(summary.latency.len(), 40);
}

#[test]
fn notifies_split_across_writes_are_reassembled() {
    let agent = start_agent(1, |_| {});
    let mut c = SpopClient::connect(agent.local_addr());
    c.hello(16380);
    let mut b = BytesMut::new();
    check_request(&mut b, 1, 1, b"a=/etc/passwd");
    check_request(&mut b, 3, 1, b"a=b");
    for chunk in b.chunks(5) {
        c.send(chunk);
        c.stream.flush().unwrap();
    }
    let a = c.read_frame().unwrap();
    let b2 = c.read_frame().unwrap();
    assert_eq!(
        (a.meta.stream_id, ack_vars(&a.payload)[0].1.as_str()),
        (1, "403")
    );
    assert_eq!(
        (b2.meta.stream_id, ack_vars(&b2.payload)[0].1.as_str()),
        (3, "0")
    );
}

#[test]
fn healthcheck_hello_is_answered_then_closed() {
    let agent = start_agent(1, |_| {});
    let mut c = SpopClient::connect(agent.local_addr());
    // Contract §4.12: the bytes of `option spop-check`.
    c.send(
        b"\x00\x00\x00\x4e\x01\x00\x00\x00\x01\x00\x00\x12supported-versions\x08\x032.0\
          \x0emax-frame-size\x03\xfc\xf0\x06\x0ccapabilities\x08\x00\x0bhealthcheck\x11",
    );
    let f = c.read_frame().unwrap();
    assert_eq!(f.ftype, FrameType::AgentHello);
    assert_eq!(f.flags.0, 1);
    assert_eq!(
        AgentHello::parse(&f.payload).unwrap().max_frame_size,
        Some(16380)
    );
    assert!(c.closed());
    assert_eq!(agent.shutdown().counters.healthchecks, 1);
}

#[test]
fn haproxy_disconnect_gets_agent_disconnect_and_close() {
    let agent = start_agent(1, |_| {});
    let mut c = SpopClient::connect(agent.local_addr());
    c.hello(16380);
    let mut b = BytesMut::new();
    spop::encode_haproxy_disconnect(&mut b, 0, b"normal");
    c.send(&b);
    assert_eq!(disconnect_status(&c.read_frame().unwrap()), 0);
    assert!(c.closed());
}

#[test]
fn garbage_gets_disconnect_with_the_right_code() {
    let agent = start_agent(1, |_| {});
    // (name, bytes after an optional HELLO, needs hello, expected status)
    let mut frag = BytesMut::new();
    check_request(&mut frag, 1, 1, b"x");
    frag[8] = 0; // FIN cleared
    let cases: Vec<(&str, Vec<u8>, bool, u32)> = vec![
        ("notify before hello", frag.to_vec(), false, 4),
        ("fragmented notify", frag.to_vec(), true, 10),
        (
            "frame too big",
            vec![0x00, 0x10, 0x00, 0x00, 3, 0, 0, 0, 1],
            true,
            3,
        ),
        (
            "random bytes",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            false,
            3,
        ),
        (
            "truncated payload",
            b"\x00\x00\x00\x0a\x03\x00\x00\x00\x01\x01\x01\x09abc".to_vec(),
            true,
            4,
        ),
    ];
    for (name, bytes, hello, want) in cases {
        let mut c = SpopClient::connect(agent.local_addr());
        if hello {
            c.hello(16380);
        }
        c.send(&bytes);
        let f = c
            .read_frame()
            .unwrap_or_else(|| panic!("{name}: no DISCONNECT"));
        assert_eq!(disconnect_status(&f), want, "{name}");
        assert!(c.closed(), "{name}: connection left open");
    }
    let s = agent.shutdown();
    assert_eq!(s.counters.errors[0], 5, "protocol errors counted");
}

#[test]
fn large_frames_up_to_the_negotiated_size() {
    let agent = start_agent(1, |c| c.max_frame_size = 1 << 20);
    let mut c = SpopClient::connect(agent.local_addr());
    let h = c.hello(1 << 20);
    assert_eq!(
        AgentHello::parse(&h.payload).unwrap().max_frame_size,
        Some(1 << 20)
    );
    let body = vec![b'a'; 900_000];
    let mut tail = body.clone();
    tail.extend_from_slice(b"/etc/passwd");
    let args: [(&[u8], TypedData<'_>); 8] = [
        (b"", TypedData::Null),
        (b"", TypedData::String(b"POST")),
        (b"", TypedData::String(b"/upload")),
        (b"", TypedData::Null),
        (b"", TypedData::String(b"1.1")),
        (b"", TypedData::Binary(b"\x00\x00")),
        (b"", TypedData::Int64(tail.len() as i64)),
        (b"", TypedData::Binary(&tail)),
    ];
    let mut b = BytesMut::new();
    let len = spop::encode_notify(
        &mut b,
        Metadata {
            stream_id: 1,
            frame_id: 1,
        },
        &[MessageSpec {
            name: b"check-request",
            args: &args,
        }],
    );
    assert!(len > 900_000 && len < 1 << 20);
    c.send(&b);
    let f = c.read_frame().unwrap();
    assert_eq!(
        ack_vars(&f.payload),
        vec![("code".to_string(), "403".to_string())]
    );
}

#[test]
fn graceful_shutdown_sends_disconnect_0_to_open_connections() {
    let agent = start_agent(2, |_| {});
    let mut clients: Vec<_> = (0..4)
        .map(|_| SpopClient::connect(agent.local_addr()))
        .collect();
    for c in &mut clients {
        c.hello(16380);
    }
    let stop = agent.shutdown_handle();
    let waiter = std::thread::spawn(move || agent.wait());
    stop.shutdown();
    for c in &mut clients {
        assert_eq!(
            disconnect_status(&c.read_frame().expect("DISCONNECT on shutdown")),
            0
        );
        assert!(c.closed());
    }
    let s = waiter.join().unwrap();
    assert_eq!(s.counters.connections, 4);
    assert_eq!(s.counters.disconnects_sent, 4);
}

#[test]
fn connections_above_the_cap_are_refused_with_status_13() {
    let agent = start_agent(1, |c| c.max_connections = 1);
    let mut first = SpopClient::connect(agent.local_addr());
    first.hello(16380);
    let mut second = SpopClient::connect(agent.local_addr());
    assert_eq!(disconnect_status(&second.read_frame().unwrap()), 13);
    // The first one still works.
    let mut b = BytesMut::new();
    check_request(&mut b, 1, 1, b"ok");
    first.send(&b);
    assert_eq!(first.read_frame().unwrap().ftype, FrameType::Ack);
    drop(first);
    // Once it is gone, a new connection is served (poll: the close takes a moment to be seen).
    let ok = poll_until(Duration::from_secs(10), || {
        let mut c = SpopClient::connect(agent.local_addr());
        let mut h = BytesMut::new();
        spop::encode_haproxy_hello(&mut h, b"2.0", 16380, b"", None, false);
        c.send(&h);
        (c.read_frame()?.ftype == FrameType::AgentHello).then_some(())
    });
    assert!(ok.is_some());
    assert!(agent.shutdown().counters.connections_refused >= 1);
}

#[test]
fn start_up_errors_say_how_to_fix_them() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = Server::start(
        ServerConfig {
            shards: 1,
            cpus: None,
            ..ServerConfig::new(addr)
        },
        std::sync::Arc::new(TestInspector),
    )
    .unwrap_err();
    assert!(
        matches!(err, StartError::AddrInUse(a) if a == addr),
        "{err:?}"
    );
    assert!(err.to_string().contains("already in use"));
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.max_frame_size = 100;
    let err = Server::start(cfg, std::sync::Arc::new(TestInspector)).unwrap_err();
    assert!(err.to_string().contains("--max-frame-size"), "{err}");
    let e = StartError::MemlockTooLow {
        have: 64 << 10,
        need: 1 << 20,
    };
    assert!(e.to_string().contains("LimitMEMLOCK"));
    let e = StartError::IoUringRefused(std::io::Error::from_raw_os_error(1));
    assert!(e.to_string().contains("seccomp"));
}

/// A restart on the same port succeeds while the previous run's connections sit in TIME_WAIT
/// (the agent closes first on shutdown, so the TIME_WAIT sockets hold the listening port).
#[test]
fn restart_on_the_same_port_while_time_wait_sockets_remain() {
    let first = start_agent(1, |_| {});
    let addr = first.local_addr();
    let mut c = SpopClient::connect(addr);
    c.hello(16380);
    let stop = first.shutdown_handle();
    let waiter = std::thread::spawn(move || first.wait());
    stop.shutdown();
    assert_eq!(disconnect_status(&c.read_frame().expect("DISCONNECT 0")), 0);
    assert!(c.closed());
    drop(c);
    waiter.join().unwrap();
    assert!(
        poll_until(Duration::from_secs(10), || tcp_socket_in_state(
            addr.port(),
            "06"
        )
        .then_some(()))
        .is_some(),
        "the agent's side of the connection should be in TIME_WAIT on port {}",
        addr.port()
    );
    // The old listener may outlive its thread by a few ms: io_uring tears a ring (and the
    // accept it still holds) down in a kernel work item. TIME_WAIT is what this test is about.
    assert!(
        poll_until(Duration::from_secs(10), || (!tcp_socket_in_state(
            addr.port(),
            "0A"
        ))
        .then_some(()))
        .is_some(),
        "the first agent's listener should close"
    );
    assert!(tcp_socket_in_state(addr.port(), "06"));
    let second = Server::start(
        ServerConfig {
            shards: 2,
            cpus: None,
            ..ServerConfig::new(addr)
        },
        std::sync::Arc::new(TestInspector),
    )
    .expect("restart on the same port despite TIME_WAIT");
    assert_eq!(second.local_addr(), addr);
    let mut c = SpopClient::connect(addr);
    c.hello(16380);
    drop(c);
    second.shutdown();
}

/// The real binary drains on SIGTERM: AGENT-DISCONNECT 0 to open connections, exit status 0.
#[test]
fn binary_drains_on_sigterm_and_exits_0() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_spoa-waf"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--shards",
            "1",
            "--rules",
        ])
        .arg(repo_root().join("tests/data/rules/seed.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start spoa-waf");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let pid = child.id().to_string();
    let mut guard = KillOnDrop(child);
    // Its own log line says when it listens (no sleeping).
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("listening on"));
    assert!(listening.is_some(), "agent did not start");
    let mut c = SpopClient::connect(([127, 0, 0, 1], port).into());
    c.hello(16380);
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    assert_eq!(
        disconnect_status(&c.read_frame().expect("DISCONNECT on SIGTERM")),
        0
    );
    assert!(c.closed());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("stats (total)")), "{rest:?}");
    let exit = guard.0.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "{rest:?}");
}

#[test]
fn silent_connections_get_disconnect_2_after_the_hello_timeout() {
    let agent = start_agent(1, |c| c.hello_timeout = Duration::from_millis(200));
    let mut c = SpopClient::connect(agent.local_addr());
    assert_eq!(
        disconnect_status(&c.read_frame().expect("DISCONNECT on HELLO timeout")),
        2
    );
    assert!(c.closed());
    // A connection that said HELLO is not subject to it: it still answers after the timeout.
    let mut ok = SpopClient::connect(agent.local_addr());
    ok.hello(16380);
    let mut b = BytesMut::new();
    check_request(&mut b, 1, 1, b"q");
    let acked = poll_until(Duration::from_secs(5), || {
        // Wait past the timeout on the agent's clock: a fresh silent connection must be cut.
        let mut probe = SpopClient::connect(agent.local_addr());
        (probe.read_frame()?.ftype == FrameType::AgentDisconnect).then_some(())
    });
    assert!(acked.is_some());
    ok.send(&b);
    assert_eq!(ok.read_frame().unwrap().ftype, FrameType::Ack);
}
