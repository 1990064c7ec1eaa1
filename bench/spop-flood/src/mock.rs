//! A minimal SPOP agent for spop-flood's own tests, built on the `spoa_waf::spop` encoders:
//! answers HELLO with `pipelining`, and every NOTIFY with `txn.<prefix>.code` = 403 when the
//! request's id (first `check-request` arg, or `coraza-req`'s `id`) contains "attack", else 0.
//! Optionally hangs up after a number of NOTIFYs, to exercise reconnects.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use bytes::BytesMut;
use spoa_waf::spop::{
    decode_frame, encode_ack, encode_agent_disconnect, encode_agent_hello, Action,
    DisconnectStatus, FrameType, Messages, TypedData, VarScope,
};

/// What the mock saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub notifies: AtomicU64,
    pub connections: AtomicU64,
    pub disconnects: AtomicU64,
}

/// Starts the mock on an ephemeral port; `hang_up_after` closes each connection after that many
/// NOTIFYs (0 = never).
pub fn start(hang_up_after: u64) -> (SocketAddr, Arc<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let s2 = Arc::clone(&seen);
    thread::spawn(move || {
        for c in l.incoming().flatten() {
            let seen = Arc::clone(&s2);
            seen.connections.fetch_add(1, Ordering::Relaxed);
            thread::spawn(move || serve(c, &seen, hang_up_after));
        }
    });
    (addr, seen)
}

fn is_attack(payload: &[u8]) -> bool {
    let Some(Ok(m)) = Messages::new(payload).next() else {
        return false;
    };
    let id = if m.name == b"check-request" {
        m.args().next().map(|(_, v)| v)
    } else {
        m.args().find(|(n, _)| *n == b"id").map(|(_, v)| v)
    };
    id.and_then(|v| v.as_bytes())
        .is_some_and(|b| b.windows(6).any(|w| w == b"attack"))
}

fn serve(mut c: TcpStream, seen: &Seen, hang_up_after: u64) {
    let mut buf = vec![0u8; 1 << 20];
    let (mut start, mut end) = (0, 0);
    let mut out = BytesMut::new();
    let mut n = 0u64;
    loop {
        if end == buf.len() {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        match c.read(&mut buf[end..]) {
            Ok(0) | Err(_) => return,
            Ok(k) => end += k,
        }
        while let Ok(Some((f, used))) = decode_frame(&buf[start..end], 1 << 20) {
            match f.ftype {
                FrameType::HaproxyHello => {
                    encode_agent_hello(&mut out, b"2.0", 16380, b"pipelining");
                }
                FrameType::Notify => {
                    n += 1;
                    seen.notifies.fetch_add(1, Ordering::Relaxed);
                    let code = if is_attack(f.payload) { 403 } else { 0 };
                    let a = Action::SetVar {
                        scope: VarScope::Txn,
                        name: b"code",
                        value: TypedData::Uint32(code),
                    };
                    encode_ack(&mut out, f.meta, &[a]);
                }
                FrameType::HaproxyDisconnect => {
                    seen.disconnects.fetch_add(1, Ordering::Relaxed);
                    encode_agent_disconnect(&mut out, DisconnectStatus::Normal);
                    let _ = c.write_all(&out);
                    return;
                }
                _ => {}
            }
            start += used;
        }
        if start == end {
            start = 0;
            end = 0;
        }
        if !out.is_empty() {
            if c.write_all(&out).is_err() {
                return;
            }
            out.clear();
        }
        if hang_up_after > 0 && n >= hang_up_after {
            return;
        }
    }
}
