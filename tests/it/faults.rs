//! Faults with real processes and sockets: SIGTERM and SIGINT while a client keeps sending
//! (every NOTIFY the agent read is answered, then AGENT-DISCONNECT, then exit within the grace
//! period), and `--allow-from` refusing peers outside the list.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use spoa_waf::spop::{self, FrameType, MessageSpec, Metadata, TypedData};

use crate::util::*;

fn notify(out: &mut BytesMut, fid: u64) {
    let args: [(&[u8], TypedData<'_>); 8] = [
        (b"", TypedData::Null),
        (b"", TypedData::String(b"GET")),
        (b"", TypedData::String(b"/")),
        (b"", TypedData::String(b"q=1")),
        (b"", TypedData::String(b"1.1")),
        (b"", TypedData::Binary(b"\x04host\x0bexample.com\x00\x00")),
        (b"", TypedData::Int64(0)),
        (b"", TypedData::Null),
    ];
    spop::encode_notify(
        out,
        Metadata {
            stream_id: 1,
            frame_id: fid,
        },
        &[MessageSpec {
            name: b"check-request",
            args: &args,
        }],
    );
}

/// Starts the binary on a free port with `extra` flags; returns it and its stderr lines once it
/// listens.
fn start_binary(
    extra: &[&str],
) -> (
    KillOnDrop,
    u16,
    std::io::Lines<BufReader<std::process::ChildStderr>>,
) {
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
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start spoa-waf");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let up = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("listening on"));
    assert!(up, "agent did not start");
    (KillOnDrop(child), port, lines)
}

/// Three clients pipeline NOTIFYs without pause; `signal` arrives mid-stream. Each client must
/// get ACKs for a gap-free prefix of what it sent, then AGENT-DISCONNECT 0, and the process
/// must exit 0 within the grace period although the clients never stop sending.
fn drains_under_load(signal: &str) {
    let (mut child, port, lines) = start_binary(&["--shutdown-grace", "3"]);
    let sending = Arc::new(AtomicBool::new(true));
    let acked = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut c = SpopClient::connect(([127, 0, 0, 1], port).into());
        c.hello(16380);
        let mut writer = c.stream.try_clone().unwrap();
        let go = sending.clone();
        // The writer keeps sending until the agent goes away (write error) or the test ends.
        let w = std::thread::spawn(move || {
            let mut fid = 1u64;
            let mut b = BytesMut::new();
            while go.load(Ordering::Relaxed) {
                b.clear();
                for _ in 0..32 {
                    notify(&mut b, fid);
                    fid += 1;
                }
                if writer.write_all(&b).is_err() {
                    break;
                }
            }
            fid - 1
        });
        let acked = acked.clone();
        let r = std::thread::spawn(move || {
            let mut next = 1u64;
            loop {
                let Some(f) = c.read_frame() else {
                    return (next - 1, None);
                };
                match f.ftype {
                    FrameType::Ack => {
                        assert_eq!(f.meta.frame_id, next, "ACKs out of order or missing");
                        next += 1;
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    FrameType::AgentDisconnect => {
                        return (next - 1, Some(disconnect_status(&f)));
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        });
        clients.push((w, r));
    }
    // Under load before the signal.
    let loaded = poll_until(Duration::from_secs(10), || {
        (acked.load(Ordering::Relaxed) > 3000).then_some(())
    });
    assert!(loaded.is_some(), "no load reached the agent");
    let pid = child.0.id().to_string();
    let t0 = Instant::now();
    assert!(Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap()
        .success());
    let exit = poll_until(Duration::from_secs(10), || {
        child.0.try_wait().ok().flatten()
    });
    let took = t0.elapsed();
    sending.store(false, Ordering::Relaxed);
    let exit = exit.expect("agent still running 10 s after the signal");
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    assert!(exit.success(), "{exit:?}");
    let mut total_acked = 0;
    for (w, r) in clients {
        let sent = w.join().unwrap();
        let (acks, disconnect) = r.join().unwrap();
        assert_eq!(
            disconnect,
            Some(0),
            "no AGENT-DISCONNECT 0 ({acks} ACKs of {sent})"
        );
        assert!(acks <= sent);
        total_acked += acks;
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let total = rest
        .iter()
        .find(|l| l.contains("stats (total)"))
        .unwrap_or_else(|| panic!("{rest:?}"));
    // Every NOTIFY the agent read got its ACK, and the client saw each of them.
    assert!(
        total.contains(&format!(" acks={total_acked} ")),
        "{total} / client saw {total_acked}"
    );
    assert!(
        total.contains(&format!(" notifies={total_acked} ")),
        "{total}"
    );
}

#[test]
fn sigterm_under_load_answers_what_was_read_and_exits_in_the_grace() {
    drains_under_load("-TERM");
}

#[test]
fn sigint_under_load_answers_what_was_read_and_exits_in_the_grace() {
    drains_under_load("-INT");
}

#[test]
fn allow_from_closes_other_peers_at_accept_and_counts_them() {
    // 127.0.0.1 is outside 10.0.0.0/8: closed before a byte is exchanged.
    let agent = start_agent(1, |c| {
        c.allow_from = Some(spoa_waf::access::AllowList::parse("10.0.0.0/8,::1").unwrap())
    });
    let mut c = SpopClient::connect(agent.local_addr());
    assert!(c.closed(), "a denied peer must see EOF");
    let s = agent.shutdown();
    assert_eq!(
        (s.counters.connections_denied, s.counters.connections),
        (1, 0)
    );
    // Inside the list: served.
    let agent = start_agent(1, |c| {
        c.allow_from = Some(spoa_waf::access::AllowList::parse("127.0.0.0/8").unwrap())
    });
    let mut c = SpopClient::connect(agent.local_addr());
    c.hello(16380);
    let mut b = BytesMut::new();
    notify(&mut b, 1);
    c.send(&b);
    assert_eq!(c.read_frame().unwrap().ftype, FrameType::Ack);
    let s = agent.shutdown();
    assert_eq!(
        (s.counters.connections_denied, s.counters.connections),
        (0, 1)
    );
}
