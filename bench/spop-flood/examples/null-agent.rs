//! `null-agent`: the cheapest possible SPOP agent, to measure spop-flood's own ceiling.
//!
//! One blocking thread per connection runs `spoa_waf::spop::Session` and answers every NOTIFY
//! with `txn.<prefix>.code = 0` (what a passing verdict costs on the wire), batching all ACKs of
//! one read into one write. It inspects nothing, so `spop-flood` against it shows how many
//! frames/s the client and the loopback can move; an agent measured near that figure is
//! client-bound, not agent-bound.
//!
//!     cargo run --release -p spop-flood --example null-agent -- 127.0.0.1:23457

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use bytes::BytesMut;
use spoa_waf::spop::{encode_ack, Action, Session, SessionConfig, Step, TypedData, VarScope};

fn serve(mut c: TcpStream) {
    let _ = c.set_nodelay(true);
    let mut session = Session::new(SessionConfig::default());
    let mut buf = vec![0u8; 1 << 20];
    let (mut start, mut end) = (0usize, 0usize);
    let mut out = BytesMut::with_capacity(64 * 1024);
    let pass = [Action::SetVar {
        scope: VarScope::Txn,
        name: b"code",
        value: TypedData::Uint32(0),
    }];
    loop {
        if end == buf.len() {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        match c.read(&mut buf[end..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => end += n,
        }
        let mut closed = false;
        while let Some((step, used)) = session.next_step(&buf[start..end], &mut out) {
            start += used;
            match step {
                Step::Continue => {}
                Step::Notify(n) => {
                    encode_ack(&mut out, n.meta, &pass);
                }
                Step::Close(_) => {
                    closed = true;
                    break;
                }
            }
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
        if closed {
            return;
        }
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:23457".to_string());
    let l = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("null-agent: bind {addr}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("null-agent: listening on {addr}");
    for c in l.incoming().flatten() {
        thread::spawn(move || serve(c));
    }
}
