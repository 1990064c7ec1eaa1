//! One SPOP connection driven the way HAProxy drives it, in closed or open loop.
//!
//! Closed loop: one thread keeps `pipeline` NOTIFYs in flight; every ACK read sends the next
//! request, batched into one write per read. Latency is ACK time − actual send time.
//! Open loop (`--rate`): a writer sends each request at its *intended* time (a fixed schedule)
//! and a reader thread takes the ACKs; latency is ACK time − intended time, so a stalled agent
//! shows up as latency instead of silently slowing the schedule (no coordinated omission).
//! Std threads and blocking sockets only; the protocol bytes come from `wire` (spoa_waf::spop).
//! Stream ids are odd and never reused on a connection (HAProxy ≥ 3.1); the frame id is 1.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::report::{Live, Tally};
use crate::wire::{self, Negotiated, Reply};

/// How often a connection looks for requests past the timeout, and its socket read timeout.
const TICK: Duration = Duration::from_millis(50);
/// Biggest batch of NOTIFYs written at once.
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Everything the connections share.
#[derive(Debug)]
pub struct Plan {
    /// Agent address.
    pub target: SocketAddr,
    /// Pre-encoded NOTIFY payloads, one per corpus request.
    pub payloads: Arc<Vec<Vec<u8>>>,
    /// Streams in flight per connection (when the agent announces pipelining).
    pub pipeline: usize,
    /// max-frame-size we offer.
    pub max_frame_size: u32,
    /// A request without ACK after this long is an error (HAProxy's `timeout processing`).
    pub timeout: Duration,
    /// Time zero of the run.
    pub start: Instant,
    /// ACKs before this are not counted in the report (warm-up).
    pub measure_from: Instant,
    /// No request is sent at or after this.
    pub deadline: Instant,
    /// Counters for the progress line.
    pub live: Arc<Live>,
}

impl Plan {
    fn ns(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX)
    }

    fn measuring(&self, t: Instant) -> bool {
        t >= self.measure_from && t < self.deadline
    }

    fn largest_payload(&self) -> usize {
        self.payloads.iter().map(Vec::len).max().unwrap_or(0)
    }
}

/// One connection's part of the run.
#[derive(Debug, Clone, Copy)]
pub struct ConnSpec {
    /// 0-based connection number.
    pub index: usize,
    /// Corpus position this connection starts at (connections start spread over the corpus).
    pub offset: usize,
    /// Open loop: this connection's share of `--rate`.
    pub rate: Option<f64>,
    /// CPU to pin this connection's threads to.
    pub cpu: Option<usize>,
}

/// Why a session ended early.
#[derive(Debug)]
enum SessionError {
    /// Could not connect; retried.
    Connect(io::Error),
    /// The connection broke or the agent closed it; retried.
    Lost(String),
    /// Retrying cannot help (the agent refused the HELLO, frames do not fit...).
    Fatal(String),
}

/// A read buffer that frames are cut from.
struct RxBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl RxBuf {
    fn new(max_frame: u32) -> Self {
        RxBuf {
            buf: vec![0; (max_frame as usize + 4).max(64 * 1024) * 2],
            start: 0,
            end: 0,
        }
    }

    fn data(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or(&[])
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// One `read`: `Ok(0)` is end of stream.
    fn fill(&mut self, s: &mut TcpStream) -> io::Result<usize> {
        if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let spare = self.buf.get_mut(self.end..).unwrap_or(&mut []);
        if spare.is_empty() {
            // A frame bigger than the buffer: decode_frame would have rejected it already.
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "frame larger than the read buffer",
            ));
        }
        let n = s.read(spare)?;
        self.end += n;
        Ok(n)
    }
}

/// Stream ids are odd, unique and increasing on a connection (as HAProxy ≥ 3.1 makes them),
/// and carry their slot: `sid = 2 × (seq × ring + slot) + 1`.
fn stream_id(seq: u64, ring: usize, slot: usize) -> u64 {
    2 * (seq * ring as u64 + slot as u64) + 1
}

/// The slot a stream id was given (any value maps inside the ring; callers check the id).
fn slot_of(stream_id: u64, ring: usize) -> usize {
    ((stream_id >> 1) % ring.max(1) as u64) as usize
}

/// Finds a free slot starting after the last one used, so slots rotate.
fn free_slot(hint: &mut usize, len: usize, is_free: impl Fn(usize) -> bool) -> Option<usize> {
    for step in 0..len {
        let i = (*hint + step) % len;
        if is_free(i) {
            *hint = (i + 1) % len;
            return Some(i);
        }
    }
    None
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn pin(cpu: Option<usize>) {
    if let Some(id) = cpu {
        if !core_affinity::set_for_current(core_affinity::CoreId { id }) {
            eprintln!("spop-flood: could not pin a thread to CPU {id}");
        }
    }
}

/// Connects and exchanges HELLOs; returns the stream, the read buffer and what was agreed.
fn open(plan: &Plan, index: usize) -> Result<(TcpStream, RxBuf, Negotiated), SessionError> {
    let mut s = TcpStream::connect_timeout(&plan.target, Duration::from_secs(2))
        .map_err(SessionError::Connect)?;
    s.set_nodelay(true).map_err(SessionError::Connect)?;
    s.set_read_timeout(Some(TICK))
        .map_err(SessionError::Connect)?;
    let mut out = BytesMut::new();
    wire::hello(
        &mut out,
        plan.max_frame_size,
        &format!("spop-flood-{}-{index}", std::process::id()),
    );
    s.write_all(&out)
        .map_err(|e| SessionError::Lost(format!("sending HELLO: {e}")))?;
    let mut rx = RxBuf::new(plan.max_frame_size);
    let give_up = Instant::now() + Duration::from_secs(2);
    loop {
        match wire::next_reply(rx.data(), plan.max_frame_size, plan.max_frame_size) {
            Err(e) => return Err(SessionError::Fatal(format!("during HELLO: {e}"))),
            Ok(Some((reply, used))) => {
                rx.consume(used);
                return match reply {
                    Reply::Hello(n) => {
                        let need = plan.largest_payload() + wire::FRAME_HEADER_ROOM;
                        if need > n.max_frame_size as usize {
                            return Err(SessionError::Fatal(format!(
                                "agent max-frame-size {} < largest NOTIFY {need}; pass --max-frame-size {}",
                                n.max_frame_size, n.max_frame_size
                            )));
                        }
                        Ok((s, rx, n))
                    }
                    Reply::Disconnect(code, msg) => Err(SessionError::Fatal(format!(
                        "agent refused HELLO: DISCONNECT {code} {msg:?}"
                    ))),
                    other => Err(SessionError::Fatal(format!(
                        "expected AGENT-HELLO, got {other:?}"
                    ))),
                };
            }
            Ok(None) => {}
        }
        if Instant::now() > give_up {
            return Err(SessionError::Lost("no AGENT-HELLO within 2 s".into()));
        }
        match rx.fill(&mut s) {
            Ok(0) => return Err(SessionError::Lost("agent closed during HELLO".into())),
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(SessionError::Lost(format!("reading AGENT-HELLO: {e}"))),
        }
    }
}

/// Sends HAPROXY-DISCONNECT and waits briefly for the agent's answer, as HAProxy does on close.
fn goodbye(mut s: TcpStream, mut rx: RxBuf, max_frame: u32) {
    let mut out = BytesMut::new();
    wire::disconnect(&mut out);
    if s.write_all(&out).is_err() {
        return;
    }
    let until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < until {
        while let Ok(Some((reply, used))) = wire::next_reply(rx.data(), max_frame, max_frame) {
            rx.consume(used);
            if matches!(reply, Reply::Disconnect(..)) {
                return;
            }
        }
        match rx.fill(&mut s) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
    }
    let _ = s.shutdown(Shutdown::Both);
}

fn report_error(spec: &ConnSpec, logged: &mut u32, what: &str) {
    // A dying agent would otherwise print a line per retry; a few tell the story.
    if *logged < 3 {
        eprintln!("spop-flood: connection {}: {what}", spec.index);
    }
    *logged += 1;
}

/// Runs one closed-loop connection until the deadline, reconnecting after losses as HAProxy
/// would. Returns what it measured.
pub fn run_closed(plan: &Plan, spec: ConnSpec) -> Tally {
    pin(spec.cpu);
    let mut tally = Tally::new();
    let mut cursor = spec.offset;
    let mut logged = 0;
    while Instant::now() < plan.deadline {
        match closed_session(plan, &spec, &mut tally, &mut cursor) {
            Ok(()) => break,
            Err(SessionError::Fatal(m)) => {
                report_error(&spec, &mut logged, &m);
                tally.errors += 1;
                plan.live.add(0, 0, 1, 0);
                break;
            }
            Err(SessionError::Connect(e)) => {
                report_error(&spec, &mut logged, &format!("connect: {e}"));
                tally.errors += 1;
                plan.live.add(0, 0, 1, 0);
                thread::sleep(Duration::from_millis(100));
            }
            Err(SessionError::Lost(m)) => {
                report_error(&spec, &mut logged, &m);
                tally.disconnects += 1;
                plan.live.add(0, 0, 0, 1);
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
    tally
}

fn closed_session(
    plan: &Plan,
    spec: &ConnSpec,
    tally: &mut Tally,
    cursor: &mut usize,
) -> Result<(), SessionError> {
    let (mut s, mut rx, neg) = open(plan, spec.index)?;
    let depth = if neg.pipelining { plan.pipeline } else { 1 };
    let ring = (depth.next_power_of_two() * 4).max(64);
    // Per slot: (stream id, send time in ns since start); stream id 0 marks a free slot.
    let mut slots = vec![(0u64, 0u64); ring];
    let mut next_k: u64 = 0;
    let mut inflight = 0usize;
    let mut out = BytesMut::with_capacity(64 * 1024);
    let payloads = &plan.payloads;
    let n_payloads = payloads.len().max(1);

    let mut hint = 0usize;
    let mut send_one =
        |out: &mut BytesMut, slots: &mut [(u64, u64)], now_ns: u64, cursor: &mut usize| {
            // In flight ≤ depth < ring, so a free slot always exists.
            let Some(slot) = free_slot(&mut hint, slots.len(), |i| slots[i].0 == 0) else {
                return;
            };
            let sid = stream_id(next_k, ring, slot);
            next_k += 1;
            let p = payloads
                .get(*cursor % n_payloads)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            *cursor = cursor.wrapping_add(1);
            wire::notify(out, sid, p);
            slots[slot] = (sid, now_ns);
        };

    let now_ns = plan.ns(Instant::now());
    for _ in 0..depth {
        send_one(&mut out, &mut slots, now_ns, cursor);
        inflight += 1;
    }
    s.write_all(&out)
        .map_err(|e| SessionError::Lost(format!("write: {e}")))?;
    out.clear();
    let timeout_ns = u64::try_from(plan.timeout.as_nanos()).unwrap_or(u64::MAX);
    let mut last_scan = Instant::now();

    loop {
        let lost = |why: String, inflight: usize, tally: &mut Tally| {
            // Requests in flight on a broken connection never get a verdict: errors.
            tally.errors += inflight as u64;
            plan.live.add(0, 0, inflight as u64, 0);
            SessionError::Lost(why)
        };
        match rx.fill(&mut s) {
            Ok(0) => return Err(lost("agent closed the connection".into(), inflight, tally)),
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(lost(format!("read: {e}"), inflight, tally)),
        }
        let now = Instant::now();
        let now_ns = plan.ns(now);
        let measuring = plan.measuring(now);
        let sending = now < plan.deadline;
        let (mut acks, mut blocked_n, mut errs) = (0u64, 0u64, 0u64);
        loop {
            let (reply, used) = match wire::next_reply(
                rx.data(),
                neg.max_frame_size.max(plan.max_frame_size),
                plan.max_frame_size,
            ) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    tally.errors += errs + 1;
                    plan.live.add(acks, blocked_n, errs + 1, 0);
                    return Err(lost(e, inflight, tally));
                }
            };
            rx.consume(used);
            match reply {
                Reply::Ack {
                    stream_id,
                    blocked,
                    bad_actions,
                } => {
                    let slot = slots.get_mut(slot_of(stream_id, ring));
                    match slot {
                        Some(sl) if sl.0 == stream_id && stream_id != 0 => {
                            let lat = now_ns.saturating_sub(sl.1);
                            *sl = (0, 0);
                            inflight -= 1;
                            acks += 1;
                            blocked_n += u64::from(blocked);
                            if measuring {
                                tally.ack(lat, blocked);
                            }
                            errs += u64::from(bad_actions);
                            if sending {
                                send_one(&mut out, &mut slots, now_ns, cursor);
                                inflight += 1;
                            }
                        }
                        // An ACK for a stream we did not open (or already timed out).
                        _ => errs += 1,
                    }
                }
                Reply::Disconnect(code, msg) => {
                    tally.errors += errs;
                    plan.live.add(acks, blocked_n, errs, 0);
                    return Err(lost(
                        format!("agent sent DISCONNECT {code} {msg:?}"),
                        inflight,
                        tally,
                    ));
                }
                Reply::Hello(_) | Reply::Bad(_) => errs += 1,
            }
        }
        if now.duration_since(last_scan) >= TICK {
            last_scan = now;
            for i in 0..slots.len() {
                let (sid, sent) = slots[i];
                if sid != 0 && now_ns.saturating_sub(sent) > timeout_ns {
                    slots[i] = (0, 0);
                    inflight -= 1;
                    errs += 1;
                    if sending {
                        send_one(&mut out, &mut slots, now_ns, cursor);
                        inflight += 1;
                    }
                }
            }
        }
        tally.errors += errs;
        plan.live.add(acks, blocked_n, errs, 0);
        if !out.is_empty() {
            s.write_all(&out)
                .map_err(|e| lost(format!("write: {e}"), inflight, tally))?;
            out.clear();
        }
        if !sending
            && (inflight == 0 || now >= plan.deadline + plan.timeout.min(Duration::from_secs(1)))
        {
            break;
        }
    }
    goodbye(s, rx, plan.max_frame_size);
    Ok(())
}

/// State the open-loop writer and reader of one connection share.
#[derive(Debug)]
struct OpenShared {
    /// Per slot: intended send time + 1 in ns since start; 0 = free. Whoever swaps it to 0
    /// (the reader on ACK, the writer on timeout) owns the request's outcome.
    due: Vec<AtomicU64>,
    /// Per slot: stream id, to recognise ACKs for a slot that was reused.
    sid: Vec<AtomicU64>,
    inflight: AtomicUsize,
    done_sending: AtomicBool,
    dead: AtomicBool,
}

/// Runs one open-loop connection: this thread writes on schedule, a second reads ACKs.
/// A lost connection ends it (its remaining schedule is reported as `unsent`).
pub fn run_open(plan: &Arc<Plan>, spec: ConnSpec) -> Tally {
    pin(spec.cpu);
    let mut tally = Tally::new();
    let mut logged = 0;
    let rate = spec.rate.unwrap_or(1.0).max(1e-3);
    let interval_ns = 1e9 / rate;
    let (s, rx, neg) = match open(plan, spec.index) {
        Ok(v) => v,
        Err(SessionError::Connect(e)) => {
            report_error(&spec, &mut logged, &format!("connect: {e}"));
            tally.errors += 1;
            return tally;
        }
        Err(SessionError::Lost(m) | SessionError::Fatal(m)) => {
            report_error(&spec, &mut logged, &m);
            tally.errors += 1;
            return tally;
        }
    };
    let depth = if neg.pipelining { plan.pipeline } else { 1 };
    let ring = (depth.next_power_of_two() * 4).max(64);
    let shared = Arc::new(OpenShared {
        due: (0..ring).map(|_| AtomicU64::new(0)).collect(),
        sid: (0..ring).map(|_| AtomicU64::new(0)).collect(),
        inflight: AtomicUsize::new(0),
        done_sending: AtomicBool::new(false),
        dead: AtomicBool::new(false),
    });
    let reader = {
        let plan = Arc::clone(plan);
        let shared = Arc::clone(&shared);
        let rs = match s.try_clone() {
            Ok(rs) => rs,
            Err(e) => {
                report_error(&spec, &mut logged, &format!("clone socket: {e}"));
                tally.errors += 1;
                return tally;
            }
        };
        thread::Builder::new()
            .name(format!("reader-{}", spec.index))
            .spawn(move || open_reader(&plan, spec, rs, rx, &shared, ring, neg.max_frame_size))
    };
    let reader = match reader {
        Ok(h) => h,
        Err(e) => {
            report_error(&spec, &mut logged, &format!("spawn reader: {e}"));
            tally.errors += 1;
            return tally;
        }
    };

    // Each connection's schedule starts after its handshake, staggered inside one interval
    // so the connections' sends interleave instead of arriving in bursts.
    let t0 = plan.ns(Instant::now()) as f64 + interval_ns * (spec.index as f64 / 16.0).fract();
    let deadline_ns = plan.ns(plan.deadline);
    let timeout_ns = u64::try_from(plan.timeout.as_nanos()).unwrap_or(u64::MAX);
    let mut s = s;
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut k: u64 = 0;
    let mut cursor = spec.offset;
    let n_payloads = plan.payloads.len().max(1);
    let mut last_scan = Instant::now();
    let mut hint = 0usize;
    let due_of = |k: u64| (t0 + k as f64 * interval_ns) as u64;
    loop {
        if shared.dead.load(Ordering::Acquire) {
            break;
        }
        let now = Instant::now();
        let now_ns = plan.ns(now);
        if now_ns >= deadline_ns {
            break;
        }
        while shared.inflight.load(Ordering::Acquire) < depth && out.len() < MAX_BATCH_BYTES {
            let due = due_of(k);
            if due > now_ns || due >= deadline_ns {
                break;
            }
            let Some(slot) = free_slot(&mut hint, ring, |i| {
                shared.due[i].load(Ordering::Acquire) == 0
            }) else {
                break;
            };
            let sid = stream_id(k, ring, slot);
            shared.sid[slot].store(sid, Ordering::Relaxed);
            shared.due[slot].store(due + 1, Ordering::Release);
            shared.inflight.fetch_add(1, Ordering::AcqRel);
            let p = plan
                .payloads
                .get(cursor % n_payloads)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            cursor = cursor.wrapping_add(1);
            wire::notify(&mut out, sid, p);
            k += 1;
        }
        if !out.is_empty() {
            if let Err(e) = s.write_all(&out) {
                report_error(&spec, &mut logged, &format!("write: {e}"));
                shared.dead.store(true, Ordering::Release);
                break;
            }
            out.clear();
        }
        if now.duration_since(last_scan) >= TICK {
            last_scan = now;
            let n = expire(&shared, now_ns, timeout_ns);
            tally.errors += n;
            plan.live.add(0, 0, n, 0);
        }
        // Wait for the next due time (or for a free stream when the pipeline is full: the
        // waiting request's latency keeps counting from its intended time).
        let next_due = due_of(k);
        let now_ns = plan.ns(Instant::now());
        let full = shared.inflight.load(Ordering::Acquire) >= depth;
        if full || next_due <= now_ns {
            thread::yield_now();
            continue;
        }
        let wait = next_due - now_ns;
        // Sleeping overshoots by the timer slack (~50 µs); finish short waits by yielding.
        if wait > 200_000 {
            thread::sleep(Duration::from_nanos(wait - 100_000));
        } else {
            thread::yield_now();
        }
    }
    // Requests the schedule called for before the deadline that never went out.
    let scheduled = ((deadline_ns as f64 - t0).max(0.0) / interval_ns).ceil() as u64;
    tally.unsent = scheduled.saturating_sub(k);
    shared.done_sending.store(true, Ordering::Release);
    // Let the in-flight requests finish (bounded by the timeout), then say goodbye.
    let until = Instant::now() + plan.timeout.min(Duration::from_secs(1));
    while shared.inflight.load(Ordering::Acquire) > 0
        && Instant::now() < until
        && !shared.dead.load(Ordering::Acquire)
    {
        thread::sleep(Duration::from_millis(1));
    }
    let n = expire(&shared, u64::MAX, 0);
    tally.errors += n;
    plan.live.add(0, 0, n, 0);
    out.clear();
    wire::disconnect(&mut out);
    let _ = s.write_all(&out);
    thread::sleep(Duration::from_millis(20));
    let _ = s.shutdown(Shutdown::Both);
    match reader.join() {
        Ok(r) => tally.merge(&r),
        Err(_) => tally.errors += 1,
    }
    tally
}

/// Frees slots older than the timeout; returns how many (each one is an error).
fn expire(shared: &OpenShared, now_ns: u64, timeout_ns: u64) -> u64 {
    let mut n = 0;
    for d in &shared.due {
        let v = d.load(Ordering::Acquire);
        if v != 0
            && now_ns.saturating_sub(v - 1) > timeout_ns
            && d.compare_exchange(v, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            shared.inflight.fetch_sub(1, Ordering::AcqRel);
            n += 1;
        }
    }
    n
}

fn open_reader(
    plan: &Plan,
    spec: ConnSpec,
    mut s: TcpStream,
    mut rx: RxBuf,
    shared: &OpenShared,
    ring: usize,
    max_frame: u32,
) -> Tally {
    pin(spec.cpu);
    let mut tally = Tally::new();
    let mut logged = 0;
    loop {
        let done = shared.done_sending.load(Ordering::Acquire);
        match rx.fill(&mut s) {
            Ok(0) => {
                if !done {
                    report_error(&spec, &mut logged, "agent closed the connection");
                    tally.disconnects += 1;
                    plan.live.add(0, 0, 0, 1);
                }
                break;
            }
            Ok(_) => {}
            // Keep reading until the writer's goodbye closes the socket.
            Err(e) if is_timeout(&e) => continue,
            Err(e) => {
                if !done {
                    report_error(&spec, &mut logged, &format!("read: {e}"));
                    tally.disconnects += 1;
                    plan.live.add(0, 0, 0, 1);
                }
                break;
            }
        }
        let now = Instant::now();
        let now_ns = plan.ns(now);
        let measuring = plan.measuring(now);
        let (mut acks, mut blocked_n, mut errs) = (0u64, 0u64, 0u64);
        let mut stop = false;
        loop {
            let (reply, used) = match wire::next_reply(
                rx.data(),
                max_frame.max(plan.max_frame_size),
                plan.max_frame_size,
            ) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    report_error(&spec, &mut logged, &e);
                    errs += 1;
                    stop = true;
                    break;
                }
            };
            rx.consume(used);
            match reply {
                Reply::Ack {
                    stream_id,
                    blocked,
                    bad_actions,
                } => {
                    let slot = slot_of(stream_id, ring);
                    let (Some(sid), Some(due)) = (shared.sid.get(slot), shared.due.get(slot))
                    else {
                        errs += 1;
                        continue;
                    };
                    let v = due.load(Ordering::Acquire);
                    if stream_id != 0
                        && sid.load(Ordering::Relaxed) == stream_id
                        && v != 0
                        && due
                            .compare_exchange(v, 0, Ordering::AcqRel, Ordering::Acquire)
                            .is_ok()
                    {
                        shared.inflight.fetch_sub(1, Ordering::AcqRel);
                        acks += 1;
                        blocked_n += u64::from(blocked);
                        if measuring {
                            tally.ack(now_ns.saturating_sub(v - 1), blocked);
                        }
                        errs += u64::from(bad_actions);
                    } else {
                        errs += 1;
                    }
                }
                Reply::Disconnect(code, msg) => {
                    if !shared.done_sending.load(Ordering::Acquire) {
                        report_error(
                            &spec,
                            &mut logged,
                            &format!("agent sent DISCONNECT {code} {msg:?}"),
                        );
                        tally.disconnects += 1;
                        plan.live.add(0, 0, 0, 1);
                    }
                    stop = true;
                    break;
                }
                Reply::Hello(_) | Reply::Bad(_) => errs += 1,
            }
        }
        tally.errors += errs;
        plan.live.add(acks, blocked_n, errs, 0);
        if stop {
            break;
        }
    }
    shared.dead.store(true, Ordering::Release);
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_are_odd_unique_increasing_and_carry_their_slot() {
        let ring = 64;
        let mut prev = 0;
        for seq in 0..200u64 {
            for slot in [0, 1, 63] {
                let sid = stream_id(seq, ring, slot);
                assert_eq!(sid % 2, 1);
                assert_eq!(slot_of(sid, ring), slot);
                if slot == 0 {
                    assert!(sid > prev);
                    prev = sid;
                }
            }
        }
        assert_eq!(slot_of(0, 0), 0, "no division by zero");
    }

    #[test]
    fn free_slots_rotate_and_skip_busy_ones() {
        let busy = [false, true, false, true];
        let mut hint = 0;
        assert_eq!(free_slot(&mut hint, 4, |i| !busy[i]), Some(0));
        assert_eq!(free_slot(&mut hint, 4, |i| !busy[i]), Some(2));
        assert_eq!(free_slot(&mut hint, 4, |i| !busy[i]), Some(0));
        assert_eq!(free_slot(&mut hint, 4, |_| false), None);
    }
}
