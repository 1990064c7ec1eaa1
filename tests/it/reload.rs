//! Hot reload through the real engine and server: under load (zero errors, every NOTIFY
//! ACKed, no connection closed, verdicts switch, broken files keep the old rules), by SIGHUP
//! to the binary, and by `--watch` on a ConfigMap-style directory (symlink swap).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use spoa_waf::engine::Engine;
use spoa_waf::reload::{self, ReloadEvent, Reloader};
use spoa_waf::server::{Server, ServerConfig};
use spoa_waf::spop::{self, FrameType, MessageSpec, Metadata, TypedData};

use crate::util::*;

/// Rules that deny (403) requests whose path starts with `prefix`.
fn blocking(prefix: &str) -> String {
    format!(
        "SecRuleEngine On\nSecRule REQUEST_FILENAME \"@beginsWith {prefix}\" \"id:1,phase:1,deny,status:403,nolog\"\n"
    )
}

/// A file the compiler refuses at line 2 (an unknown action).
const BROKEN: &str =
    "SecRuleEngine On\nSecRule REQUEST_FILENAME \"@beginsWith /c\" \"id:1,phase:1,deny,no-such-action\"\n";

fn check_request(out: &mut BytesMut, sid: u64, path: &[u8]) {
    let args: [(&[u8], TypedData<'_>); 8] = [
        (b"", TypedData::Null),
        (b"", TypedData::String(b"GET")),
        (b"", TypedData::String(path)),
        (b"", TypedData::Null),
        (b"", TypedData::String(b"1.1")),
        (b"", TypedData::Binary(b"\x04host\x0bexample.com\x00\x00")),
        (b"", TypedData::Int64(0)),
        (b"", TypedData::Null),
    ];
    spop::encode_notify(
        out,
        Metadata {
            stream_id: sid,
            frame_id: 1,
        },
        &[MessageSpec {
            name: b"check-request",
            args: &args,
        }],
    );
}

/// `txn.modsec.code` for each path, over one connection.
fn verdicts(c: &mut SpopClient, paths: &[&[u8]]) -> Vec<String> {
    let mut b = BytesMut::new();
    for (i, p) in paths.iter().enumerate() {
        check_request(&mut b, i as u64 + 1, p);
    }
    c.send(&b);
    paths
        .iter()
        .map(|_| {
            let f = c.read_frame().expect("ACK");
            assert_eq!(f.ftype, FrameType::Ack);
            let vars = ack_vars(&f.payload);
            vars.iter()
                .find(|(n, _)| n == "code")
                .map(|(_, v)| v.clone())
                .expect("code")
        })
        .collect()
}

#[test]
fn twenty_reloads_under_load_lose_nothing_and_switch_verdicts() {
    let dir = temp_dir("reload");
    let rules = dir.join("rules.conf");
    std::fs::write(&rules, blocking("/a")).unwrap();
    let engine = Engine::from_file(&rules).unwrap();
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.shards = 2;
    cfg.cpus = None;
    let (server, swap) = Server::start_swappable(cfg, Arc::new(engine)).unwrap();
    let addr = server.local_addr();
    let path = rules.clone();
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = events.clone();
    let handle = reload::spawn(Reloader {
        build: Box::new(move || {
            Engine::from_file(&path)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        }),
        swap,
        hooks: vec![Box::new(move |e: &ReloadEvent| {
            seen.lock().unwrap().push(e.clone())
        })],
    })
    .unwrap();

    // Load: 4 connections, 32 NOTIFYs in flight each, every ACK checked.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, acked, bad) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, sent, acked, bad) = (stop.clone(), sent.clone(), acked.clone(), bad.clone());
            std::thread::spawn(move || {
                let mut c = SpopClient::connect(addr);
                c.hello(16380);
                let mut sid = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut b = BytesMut::new();
                    let first = sid + 1;
                    for _ in 0..32 {
                        sid += 1;
                        check_request(&mut b, sid, if sid % 2 == 0 { b"/a" } else { b"/b" });
                    }
                    c.send(&b);
                    sent.fetch_add(32, Ordering::Relaxed);
                    for want in first..=sid {
                        let f = c
                            .read_frame()
                            .expect("an ACK for every NOTIFY, connection open");
                        let code = ack_vars(&f.payload)
                            .into_iter()
                            .find(|(n, _)| n == "code")
                            .map(|(_, v)| v);
                        let ok = f.ftype == FrameType::Ack
                            && f.meta.stream_id == want
                            && matches!(code.as_deref(), Some("0" | "403"));
                        if !ok {
                            bad.fetch_add(1, Ordering::Relaxed);
                        }
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();

    let mut probe = SpopClient::connect(addr);
    probe.hello(16380);
    assert_eq!(verdicts(&mut probe, &[b"/a", b"/b"]), ["403", "0"]);
    let mut generation = 1;
    for i in 0..20 {
        let target = if i % 4 == 0 { "/b" } else { "/a" };
        if i % 2 == 1 {
            std::fs::write(&rules, BROKEN).unwrap();
            let err = handle.reload().expect_err("a broken file is refused");
            assert!(err.contains("rules.conf:2"), "file:line in {err:?}");
        } else {
            std::fs::write(&rules, blocking(target)).unwrap();
            generation = handle.reload().expect("reload");
        }
        // New frames see the last good rules, whatever the last attempt was.
        let want = if i % 4 < 2 {
            ["0", "403"]
        } else {
            ["403", "0"]
        };
        assert_eq!(
            verdicts(&mut probe, &[b"/a", b"/b"]),
            want,
            "after reload {i}"
        );
    }
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().expect("load thread");
    }
    assert_eq!(generation, 11);
    assert_eq!(handle.stats().failed(), 10);
    assert_eq!(handle.stats().succeeded(), 10);
    let (sent, acked) = (sent.load(Ordering::Relaxed), acked.load(Ordering::Relaxed));
    assert!(sent > 0);
    assert_eq!(acked, sent, "lost ACKs");
    assert_eq!(bad.load(Ordering::Relaxed), 0, "error or misordered ACKs");
    let ev = events.lock().unwrap();
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, ReloadEvent::Done { shards: 2, .. }))
            .count(),
        10
    );
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, ReloadEvent::Failed { .. }))
            .count(),
        10
    );
    let summary = server.shutdown();
    assert_eq!(
        summary.counters.errors.iter().sum::<u64>(),
        0,
        "agent-side errors"
    );
    assert_eq!(summary.counters.acks, summary.counters.notifies);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts `spoa-waf serve` with `extra` flags on a free port; returns it and its address once
/// it answers.
pub fn spawn_agent(rules: &Path, extra: &[&str]) -> (KillOnDrop, std::net::SocketAddr) {
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_spoa-waf"))
        .arg("serve")
        .arg("--rules")
        .arg(rules)
        .arg("--listen")
        .arg(addr.to_string())
        .args(["--shards", "1", "--cpus", "0"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn spoa-waf serve");
    let child = KillOnDrop(child);
    poll_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(addr).ok()
    })
    .expect("agent listens");
    (child, addr)
}

/// Polls the verdicts of `/a` and `/b` on `c` until they are `want`.
fn until_verdicts(c: &mut SpopClient, want: [&str; 2]) {
    let got = poll_until(Duration::from_secs(20), || {
        let v = verdicts(c, &[b"/a", b"/b"]);
        (v == want).then_some(v)
    });
    assert!(got.is_some(), "verdicts never became {want:?}");
}

#[test]
fn sighup_reloads_the_binary_without_closing_connections() {
    let dir = temp_dir("sighup");
    let rules = dir.join("rules.conf");
    std::fs::write(&rules, blocking("/a")).unwrap();
    let (mut child, addr) = spawn_agent(&rules, &[]);
    let mut c = SpopClient::connect(addr);
    c.hello(16380);
    assert_eq!(verdicts(&mut c, &[b"/a", b"/b"]), ["403", "0"]);
    let hup = |pid: u32| {
        let st = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    };
    std::fs::write(&rules, BROKEN).unwrap();
    hup(child.0.id());
    std::fs::write(&rules, blocking("/b")).unwrap();
    hup(child.0.id());
    until_verdicts(&mut c, ["0", "403"]);
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "SIGHUP stopped the agent"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn watch_follows_a_configmap_symlink_swap() {
    use std::os::unix::fs::symlink;
    let dir = temp_dir("watch");
    std::fs::create_dir(dir.join("..v1")).unwrap();
    std::fs::write(dir.join("..v1/rules.conf"), blocking("/a")).unwrap();
    symlink("..v1", dir.join("..data")).unwrap();
    symlink("..data/rules.conf", dir.join("rules.conf")).unwrap();
    let (_child, addr) = spawn_agent(
        &dir.join("rules.conf"),
        &["--watch", "--watch-interval-ms", "50"],
    );
    let mut c = SpopClient::connect(addr);
    c.hello(16380);
    assert_eq!(verdicts(&mut c, &[b"/a", b"/b"]), ["403", "0"]);
    // What the kubelet does: a new timestamped directory, then an atomic rename of `..data`.
    std::fs::create_dir(dir.join("..v2")).unwrap();
    std::fs::write(dir.join("..v2/rules.conf"), blocking("/b")).unwrap();
    symlink("..v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    until_verdicts(&mut c, ["0", "403"]);
    let _ = std::fs::remove_dir_all(&dir);
}
