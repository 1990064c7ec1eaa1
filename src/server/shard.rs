//! One shard: a glommio executor pinned to a CPU, its own SO_REUSEPORT listener, its
//! connections, its adapter scratch and its metrics.
//!
//! Owns the accept loop (connection cap: connections above it get AGENT-DISCONNECT 13), the
//! shutdown watcher (polls the process-wide stop flag from a background task queue and wakes
//! every waiting task through a closed semaphore), and the periodic metrics flush. Nothing here
//! is shared with other shards except the immutable inspector and the stats channel.

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use crossbeam::channel::Sender;
use futures_lite::AsyncWriteExt;
use glommio::channels::shared_channel::{ConnectedReceiver, SharedReceiver, SharedSender};
use glommio::net::{AcceptedUnixStream, TcpListener};
use glommio::sync::{Gate, Semaphore};
use glommio::{Latency, LocalExecutorBuilder, Placement, Shares};

use crate::adapter::Adapter;
use crate::inspect::Inspector;
use crate::metrics::{ErrorKind, ShardMetrics, Snapshot};
use crate::spop::{encode_agent_disconnect, DisconnectStatus};

use super::log::{log, set_shard, Level};
use super::{classify_executor_error, StartError, IO_MEMORY, RING_DEPTH};

/// What a shard thread needs.
#[derive(Debug)]
pub(crate) struct ShardParams<I> {
    pub index: usize,
    pub listen: SocketAddr,
    pub cpu: Option<usize>,
    pub max_frame_size: u32,
    pub max_connections: usize,
    pub hello_timeout: Duration,
    pub idle_timeout: Option<Duration>,
    pub flush_interval: Duration,
    pub stop: Arc<AtomicBool>,
    pub stats: Sender<Snapshot>,
    /// New inspectors from [`super::swap::InspectorSwap`] (hot reload).
    pub swap: crossbeam::channel::Receiver<super::swap::Install<I>>,
    /// Unix socket mode: this shard's share of the connections shard 0 accepts, and for
    /// shard 0 the socket and every shard's sender (AF_UNIX has no SO_REUSEPORT spreading).
    pub unix: Option<UnixPlan>,
}

/// A shard's part in serving a unix socket.
pub(crate) struct UnixPlan {
    pub incoming: SharedReceiver<AcceptedUnixStream>,
    pub acceptor: Option<(super::UnixSocket, Vec<SharedSender<AcceptedUnixStream>>)>,
}

impl std::fmt::Debug for UnixPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixPlan")
            .field("acceptor", &self.acceptor.is_some())
            .finish()
    }
}

/// Where a shard's connections come from.
enum Source {
    Tcp(TcpListener),
    /// Connected on first use: glommio's `connect` waits for the other end, which shard 0's
    /// acceptor connects only once every shard has started.
    UnixPending(Option<SharedReceiver<AcceptedUnixStream>>),
    Unix(ConnectedReceiver<AcceptedUnixStream>),
}

enum Incoming {
    Tcp(glommio::net::TcpStream),
    Unix(glommio::net::UnixStream),
}

impl Source {
    async fn next(&mut self) -> std::io::Result<Incoming> {
        if let Source::UnixPending(rx) = self {
            let rx = rx.take().expect("connected once");
            *self = Source::Unix(rx.connect().await);
        }
        match self {
            Source::UnixPending(_) => unreachable!("connected above"),
            Source::Tcp(l) => l
                .accept()
                .await
                .map(Incoming::Tcp)
                .map_err(|e| std::io::Error::other(e.to_string())),
            Source::Unix(rx) => match rx.recv().await {
                Some(a) => Ok(Incoming::Unix(a.bind_to_executor())),
                // Shard 0's acceptor is gone (shutdown): wait for `stopped()`.
                None => std::future::pending().await,
            },
        }
    }
}

/// Per-shard state shared by the shard's tasks (`Rc`: never leaves the thread).
pub(crate) struct Shard<I: Inspector> {
    pub index: usize,
    pub max_frame_size: u32,
    pub hello_timeout: Duration,
    pub idle_timeout: Option<Duration>,
    pub adapter: RefCell<Adapter<I>>,
    pub metrics: RefCell<ShardMetrics>,
    /// Zero permits; closed on shutdown, which wakes every `stopped()` waiter.
    shutdown: Semaphore,
}

impl<I: Inspector> Shard<I> {
    /// Resolves when the shard is shutting down.
    pub async fn stopped(&self) {
        let _ = self.shutdown.acquire(1).await;
    }
}

/// Either of two futures' outputs.
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls both futures; returns the first ready (left first when both are).
pub(crate) async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

/// Thread body: builds the executor, binds, reports readiness, runs until shutdown.
pub(crate) fn run_shard<I: Inspector>(
    p: ShardParams<I>,
    inspector: Arc<I>,
    ready: mpsc::Sender<Result<(), StartError>>,
) {
    set_shard(p.index);
    let placement = match p.cpu {
        Some(cpu) => Placement::Fixed(cpu),
        None => Placement::Unbound,
    };
    // No `spin_before_park`, no special queue latency: under load the shard is not parked on
    // unread data (glommio reads with a direct `recv` first and submits its poll before it
    // decides to sleep); the long "parks" strace showed were run-queue waits on a CPU shared
    // with other work (ARCHITECTURE.md, "Server"). Spinning would only burn that share.
    let ex = match LocalExecutorBuilder::new(placement)
        .name(&format!("shard-{}", p.index))
        .io_memory(IO_MEMORY)
        .ring_depth(RING_DEPTH)
        .make()
    {
        Ok(ex) => ex,
        Err(e) => {
            let _ = ready.send(Err(classify_executor_error(p.index, e)));
            return;
        }
    };
    ex.run(async move {
        let (mut listener, unix_acceptor) = match p.unix {
            None => match TcpListener::bind(p.listen) {
                Ok(l) => (Source::Tcp(l), None),
                Err(e) => {
                    let err = match e {
                        glommio::GlommioError::IoError(io)
                            if io.kind() == std::io::ErrorKind::AddrInUse =>
                        {
                            StartError::AddrInUse(p.listen)
                        }
                        glommio::GlommioError::IoError(io) => StartError::Bind(p.listen, io),
                        other => StartError::Shard(p.index, other.to_string()),
                    };
                    let _ = ready.send(Err(err));
                    return;
                }
            },
            Some(plan) => {
                let acceptor = match plan.acceptor {
                    None => None,
                    Some((sock, peers)) => match super::unix::bind(&sock) {
                        Ok(l) => Some((l, sock, peers)),
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            return;
                        }
                    },
                };
                (Source::UnixPending(Some(plan.incoming)), acceptor)
            }
        };
        let shard = Rc::new(Shard {
            index: p.index,
            max_frame_size: p.max_frame_size,
            hello_timeout: p.hello_timeout,
            idle_timeout: p.idle_timeout,
            adapter: RefCell::new(Adapter::new(inspector)),
            metrics: RefCell::new(ShardMetrics::default()),
            shutdown: Semaphore::new(0),
        });
        let exec = glommio::executor();
        let fast = exec.create_task_queue(
            Shares::default(),
            Latency::Matters(Duration::from_millis(1)),
            "spop",
        );
        let background =
            exec.create_task_queue(Shares::Static(10), Latency::NotImportant, "background");

        // Shutdown and reload watcher: the only place that reads the process-wide flag and the
        // install channel. Replacing the adapter here happens between two NOTIFYs of every
        // connection (they borrow it only inside one synchronous answer).
        let watcher = {
            let shard = shard.clone();
            let stop = p.stop.clone();
            let swap = p.swap;
            glommio::spawn_local_into(
                async move {
                    while !stop.load(Ordering::Acquire) {
                        if let Some(new) = super::swap::latest(&swap, shard.index) {
                            let adapter = Adapter::new(new.inspector);
                            *shard.adapter.borrow_mut() = adapter;
                            let _ = new.done.send(shard.index);
                        }
                        glommio::timer::sleep(Duration::from_millis(20)).await;
                    }
                    shard.shutdown.close();
                },
                background,
            )
        };
        // Metrics flush: deltas to the reporter thread, never a lock on the request path.
        let flusher = {
            let shard = shard.clone();
            let stats = p.stats.clone();
            let every = p.flush_interval;
            glommio::spawn_local_into(
                async move {
                    loop {
                        if let Either::Right(()) =
                            race(glommio::timer::sleep(every), shard.stopped()).await
                        {
                            break;
                        }
                        let snap = {
                            let mut m = shard.metrics.borrow_mut();
                            (!m.is_empty()).then(|| m.take(shard.index))
                        };
                        if let Some(s) = snap {
                            let _ = stats.send(s);
                        }
                    }
                },
                background,
            )
        };
        let (watcher, flusher) = match (watcher, flusher) {
            (Ok(w), Ok(f)) => (w, f),
            _ => {
                let _ = ready.send(Err(StartError::Shard(
                    p.index,
                    "cannot spawn background tasks".into(),
                )));
                return;
            }
        };
        watcher.detach();
        // Unix socket: shard 0 accepts for everyone, round robin, and hands each accepted
        // socket to its shard (glommio's shared channel wakes the receiving executor).
        let acceptor = unix_acceptor.map(|(l, sock, peers)| {
            let shard = shard.clone();
            glommio::spawn_local_into(super::unix::accept_loop(l, sock, peers, shard), fast)
        });
        let acceptor = match acceptor.transpose() {
            Ok(a) => a,
            Err(_) => {
                let _ = ready.send(Err(StartError::Shard(
                    p.index,
                    "cannot spawn the unix acceptor".into(),
                )));
                return;
            }
        };
        let _ = ready.send(Ok(()));

        let gate = Gate::new();
        let active = Rc::new(std::cell::Cell::new(0usize));
        loop {
            let accepted = match race(listener.next(), shard.stopped()).await {
                Either::Left(r) => r,
                Either::Right(()) => break,
            };
            let stream = match accepted {
                Ok(s) => s,
                Err(e) => {
                    shard.metrics.borrow_mut().error(ErrorKind::Io);
                    log!(Level::Warn, "accept failed: {e}");
                    // EMFILE and friends: back off instead of spinning.
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            if active.get() >= p.max_connections {
                shard.metrics.borrow_mut().counters.connections_refused += 1;
                log!(
                    Level::Warn,
                    "connection refused: {} connections open (--max-connections)",
                    active.get()
                );
                let refuse = async move {
                    let mut out = BytesMut::new();
                    encode_agent_disconnect(&mut out, DisconnectStatus::Resource);
                    match stream {
                        Incoming::Tcp(mut s) => {
                            let _ = s.write_all(&out).await;
                            let _ = s.close().await;
                        }
                        Incoming::Unix(mut s) => {
                            let _ = s.write_all(&out).await;
                            let _ = s.close().await;
                        }
                    }
                };
                if let Ok(t) = glommio::spawn_local_into(refuse, fast) {
                    t.detach();
                }
                continue;
            }
            shard.metrics.borrow_mut().counters.connections += 1;
            active.set(active.get() + 1);
            let (shard2, active2) = (shard.clone(), active.clone());
            let task = async move {
                match stream {
                    Incoming::Tcp(s) => {
                        let peer = super::connection::tcp_peer(&s);
                        super::connection::serve(s, peer, &shard2).await;
                    }
                    Incoming::Unix(s) => {
                        super::connection::serve(s, "unix socket peer".into(), &shard2).await;
                    }
                }
                active2.set(active2.get() - 1);
            };
            match gate.spawn_into(task, fast) {
                Ok(t) => {
                    t.detach();
                }
                Err(e) => log!(Level::Error, "cannot spawn connection task: {e}"),
            }
        }
        drop(listener);
        if let Some(a) = acceptor {
            let _ = a.await;
        }
        // Connections see `stopped()` too: they send AGENT-DISCONNECT and finish.
        let _ = gate.close().await;
        let _ = flusher.await;
        let last = shard.metrics.borrow_mut().take(shard.index);
        let _ = p.stats.send(last);
    });
}
