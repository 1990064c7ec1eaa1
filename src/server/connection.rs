//! One SPOP connection: read → `spop::Session` → `adapter` → write, until close.
//!
//! Owns the connection buffer (one `Vec<u8>` window, grown up to the negotiated max-frame-size,
//! frames borrowed from it in place: zero-copy into the adapter and the inspector), the batching
//! of every ACK produced by one read into one write, the per-NOTIFY timing, and the logging and
//! counting of how the connection ended. Holds no `RefCell` borrow across an `.await`.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;
use futures_lite::{AsyncRead, AsyncWrite};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use crate::adapter::{AdapterError, Sink};
use crate::inspect::Inspector;
use crate::metrics::{ErrorKind, ShardMetrics};
use crate::spop::{CloseReason, Session, SessionConfig, State, Step};

use super::log::{log, Level};
use super::shard::{race, Either, Shard};

/// Initial read buffer; grows on demand up to max-frame-size + 4.
const INITIAL_BUF: usize = 16 << 10;
/// Compact or grow when less than this is free at the tail.
const MIN_READ: usize = 4 << 10;

/// Why a read was interrupted.
enum Interrupt {
    Shutdown,
    HelloTimeout,
    IdleTimeout,
}

struct LogSink<'a> {
    peer: &'a str,
}

impl Sink for LogSink<'_> {
    fn match_line(&mut self, line: &str) {
        log!(Level::Warn, "{line}");
    }

    fn error(&mut self, err: AdapterError, message: &str, stream_id: u64, frame_id: u64) {
        log!(
            Level::Warn,
            "{}: message {message:?} (stream {stream_id} frame {frame_id}): {err}; answered with an error value",
            self.peer
        );
    }
}

/// The peer of a TCP connection, for logs.
pub(crate) fn tcp_peer(stream: &glommio::net::TcpStream) -> String {
    let _ = stream.set_nodelay(true);
    stream
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a: SocketAddr| a.to_string())
}

/// Serves one connection (TCP or unix) until the peer or we close it.
pub(crate) async fn serve<I: Inspector, S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: String,
    shard: &Shard<I>,
) {
    let mut session = Session::new(SessionConfig {
        max_frame_size: shard.max_frame_size,
    });
    let mut buf = vec![0u8; INITIAL_BUF];
    let (mut start, mut end) = (0usize, 0usize);
    let mut out = BytesMut::with_capacity(4 << 10);
    let opened = Instant::now();
    loop {
        make_room(&mut buf, &mut start, &mut end, session.max_frame_size());
        // Before HELLO: the hello timeout from the connection's start; after it, the idle
        // timeout (if any) from the last read.
        let deadline = if session.state() == State::AwaitHello {
            Some((opened + shard.hello_timeout, Interrupt::HelloTimeout))
        } else {
            shard
                .idle_timeout
                .map(|d| (Instant::now() + d, Interrupt::IdleTimeout))
        };
        let interrupt = async {
            match deadline {
                Some((at, why)) => match race(
                    shard.stopped(),
                    glommio::timer::sleep(at.saturating_duration_since(Instant::now())),
                )
                .await
                {
                    Either::Left(()) => Interrupt::Shutdown,
                    Either::Right(()) => why,
                },
                None => {
                    shard.stopped().await;
                    Interrupt::Shutdown
                }
            }
        };
        let n = match race(stream.read(&mut buf[end..]), interrupt).await {
            Either::Left(Ok(0)) => return, // peer closed
            Either::Left(Ok(n)) => n,
            Either::Left(Err(e)) => {
                shard.metrics.borrow_mut().error(ErrorKind::Io);
                log!(Level::Warn, "read from {peer} failed: {e}");
                return;
            }
            Either::Right(why) => {
                // Everything read so far has been answered; say goodbye.
                let step = match why {
                    Interrupt::Shutdown => session.shutdown(&mut out),
                    Interrupt::HelloTimeout => session.hello_timeout(&mut out),
                    Interrupt::IdleTimeout => session.idle_timeout(&mut out),
                };
                if let Step::Close(reason) = step {
                    if !out.is_empty() {
                        on_close(reason, &peer, &mut shard.metrics.borrow_mut());
                    }
                }
                let _ = stream.write_all(&out).await;
                let _ = stream.close().await;
                return;
            }
        };
        end += n;
        let mut closing = false;
        while start < end {
            let Some((step, used)) = session.next_step(&buf[start..end], &mut out) else {
                break;
            };
            match step {
                Step::Continue => shard.metrics.borrow_mut().counters.frames += 1,
                Step::Notify(notify) => {
                    let t0 = Instant::now();
                    let outcome = shard.adapter.borrow_mut().answer(
                        &notify,
                        session.max_frame_size(),
                        &mut out,
                        &mut LogSink { peer: &peer },
                    );
                    let mut m = shard.metrics.borrow_mut();
                    m.record_latency(t0.elapsed());
                    count_notify(&mut m, &outcome);
                }
                Step::Close(reason) => {
                    let mut m = shard.metrics.borrow_mut();
                    m.counters.frames += 1;
                    on_close(reason, &peer, &mut m);
                    closing = true;
                }
            }
            start += used;
            if closing {
                break;
            }
        }
        if !out.is_empty() {
            if let Err(e) = stream.write_all(&out).await {
                shard.metrics.borrow_mut().error(ErrorKind::Io);
                log!(Level::Warn, "write to {peer} failed: {e}");
                return;
            }
            out.clear();
        }
        if closing {
            let _ = stream.close().await;
            return;
        }
        // A large pipelined batch must not starve other connections of this shard.
        glommio::yield_if_needed().await;
    }
}

fn count_notify(m: &mut ShardMetrics, o: &crate::adapter::Outcome) {
    let c = &mut m.counters;
    c.frames += 1;
    c.notifies += 1;
    c.acks += 1;
    c.inspected += u64::from(o.inspected);
    c.blocked += u64::from(o.blocked);
    c.errors[ErrorKind::BadArguments as usize] += u64::from(o.errors[0]);
    c.errors[ErrorKind::UnknownMessage as usize] += u64::from(o.errors[1]);
    c.errors[ErrorKind::Internal as usize] += u64::from(o.errors[2]);
}

/// Counts (and for errors logs) how a session ended.
fn on_close(reason: CloseReason, peer: &str, m: &mut ShardMetrics) {
    match reason {
        CloseReason::HealthCheck => m.counters.healthchecks += 1,
        CloseReason::PeerDisconnect { .. } => {
            m.counters.disconnects_received += 1;
            m.counters.disconnects_sent += 1;
        }
        CloseReason::ProtocolError { error, meta } => {
            m.error(ErrorKind::Protocol);
            m.counters.disconnects_sent += 1;
            log!(
                Level::Warn,
                "protocol error from {peer} (stream {} frame {}): {error}; sent AGENT-DISCONNECT {}",
                meta.stream_id,
                meta.frame_id,
                error.status()
            );
        }
        CloseReason::Shutdown => m.counters.disconnects_sent += 1,
        CloseReason::HelloTimeout => {
            m.error(ErrorKind::Protocol);
            m.counters.disconnects_sent += 1;
            log!(
                Level::Warn,
                "no HAPROXY-HELLO from {peer} in time; sent AGENT-DISCONNECT 2 (timeout)"
            );
        }
        CloseReason::IdleTimeout => {
            m.counters.disconnects_sent += 1;
            log!(
                Level::Info,
                "{peer} sent nothing for the idle timeout; sent AGENT-DISCONNECT 2 (timeout)"
            );
        }
    }
}

/// Keeps at least [`MIN_READ`] bytes free after `end`, and room for a whole announced frame:
/// resets an empty window, compacts a partial frame to the front, grows up to `max_frame + 4`.
fn make_room(buf: &mut Vec<u8>, start: &mut usize, end: &mut usize, max_frame: u32) {
    if *start == *end {
        *start = 0;
        *end = 0;
    }
    let pending = *end - *start;
    let announced = buf
        .get(*start..*start + 4)
        .map(|p| 4 + u32::from_be_bytes([p[0], p[1], p[2], p[3]]).min(max_frame) as usize)
        .unwrap_or(0);
    let want = announced.max(pending + MIN_READ);
    if buf.len() - *end >= MIN_READ && buf.len() - *start >= announced {
        return;
    }
    if *start > 0 {
        buf.copy_within(*start..*end, 0);
        *end = pending;
        *start = 0;
    }
    if buf.len() < want {
        buf.resize(
            want.next_power_of_two()
                .min(max_frame as usize + 4 + MIN_READ),
            0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::make_room;

    #[test]
    fn buffer_window_compacts_and_grows_to_the_announced_frame() {
        let mut buf = vec![0u8; 16 << 10];
        // A 40000-byte frame announced at the tail of the buffer.
        let (mut start, mut end) = (16_000usize, 16_100usize);
        buf[16_000..16_004].copy_from_slice(&40_000u32.to_be_bytes());
        make_room(&mut buf, &mut start, &mut end, 1 << 20);
        assert_eq!((start, end), (0, 100));
        assert_eq!(&buf[..4], &40_000u32.to_be_bytes());
        assert!(buf.len() >= 40_004);
        // An over-limit announcement does not grow past the limit (decode rejects it anyway).
        let mut buf = vec![0u8; 16 << 10];
        let (mut s, mut e) = (0, 4);
        buf[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        make_room(&mut buf, &mut s, &mut e, 16380);
        assert!(buf.len() <= 16380 + 4 + (4 << 10));
        // Empty window resets.
        let (mut s, mut e) = (500, 500);
        make_room(&mut buf, &mut s, &mut e, 16380);
        assert_eq!((s, e), (0, 0));
    }
}
