//! Hot reload: when to rebuild the rules, building them off the shard threads, and handing the
//! result to every shard.
//!
//! Owns the reload thread ([`spawn`]), its triggers (SIGHUP via [`Sighup`], file and
//! directory watching in [`watch`], and [`ReloadHandle::reload`] for tests and other modules),
//! the counters of what happened ([`ReloadStats`]: generation, successes, failures) and the
//! hooks other modules register to hear about reloads ([`ReloadEvent`]; e.g. systemd's
//! `RELOADING=1` / `READY=1`). A build that fails leaves the running rules in place and is
//! logged once with its reason (file:line from the parser or compiler) and counted.
//!
//! Refuses: any I/O on the shards, any lock the shards take. The switch itself is the server's
//! ([`crate::server::swap`]): each shard picks the new inspector up at a frame boundary; a
//! NOTIFY is answered wholly by one generation. What "the rules" are (a file, a YAML config
//! with applications) is the caller's build function.

pub mod watch;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender};

use crate::inspect::Inspector;
use crate::server::log::{log, Level};
use crate::server::swap::InspectorSwap;

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// SIGHUP (`systemctl reload`).
    Signal,
    /// A watched file or directory changed.
    Watch,
    /// [`ReloadHandle::reload`].
    Request,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "SIGHUP",
            Trigger::Watch => "a watched file changed",
            Trigger::Request => "request",
        }
    }
}

/// What a reload did, for hooks (systemd notification, metrics, audit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadEvent {
    /// A build starts (systemd: `RELOADING=1`).
    Started(Trigger),
    /// Every shard now runs `generation` (systemd: `READY=1`).
    Done {
        /// The rule set generation now in force (1 is the one loaded at start-up).
        generation: u64,
        /// Shards that confirmed the switch.
        shards: usize,
    },
    /// The build failed; the previous generation stays in force (systemd: `READY=1`).
    Failed {
        /// Why, with file:line where the parser or compiler knew it.
        reason: String,
    },
}

/// A callback told about every reload, on the reload thread.
pub type Hook = Box<dyn Fn(&ReloadEvent) + Send + Sync>;

/// Counters of the reload thread; read them from anywhere.
#[derive(Debug, Default)]
pub struct ReloadStats {
    generation: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
}

impl ReloadStats {
    /// The generation in force (1 at start-up, +1 per successful reload).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Successful reloads.
    pub fn succeeded(&self) -> u64 {
        self.succeeded.load(Ordering::Acquire)
    }

    /// Failed reloads (the old rules kept running).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Acquire)
    }
}

/// The result of one reload, as [`ReloadHandle::reload`] returns it.
pub type Outcome = Result<u64, String>;

enum Msg {
    Reload(Trigger, Option<Sender<Outcome>>),
}

/// Asks the reload thread to reload; cheap to clone.
#[derive(Debug, Clone)]
pub struct ReloadHandle {
    tx: Sender<Msg>,
    stats: Arc<ReloadStats>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl ReloadHandle {
    /// Queues a reload and returns at once (signals and watchers use this).
    pub fn trigger(&self, why: Trigger) {
        let _ = self.tx.send(Msg::Reload(why, None));
    }

    /// Reloads and waits for the outcome: the new generation, or why the build failed.
    pub fn reload(&self) -> Outcome {
        let (tx, rx) = crossbeam::channel::bounded(1);
        self.tx
            .send(Msg::Reload(Trigger::Request, Some(tx)))
            .map_err(|_| "the reload thread has stopped".to_string())?;
        rx.recv()
            .map_err(|_| "the reload thread has stopped".to_string())?
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<ReloadStats> {
        &self.stats
    }
}

/// What the reload thread runs.
pub struct Reloader<I: Inspector> {
    /// Builds the next inspector (reads and compiles the configuration), or says why not.
    pub build: Box<dyn FnMut() -> Result<Arc<I>, String> + Send>,
    /// Where the result goes.
    pub swap: InspectorSwap<I>,
    /// Told about every reload.
    pub hooks: Vec<Hook>,
}

impl<I: Inspector> std::fmt::Debug for Reloader<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("swap", &self.swap)
            .field("hooks", &self.hooks.len())
            .finish_non_exhaustive()
    }
}

/// How long a shard may take to confirm a switch before the reload is reported anyway (a
/// shard busy with one huge frame answers it first).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the reload thread. It lives until every [`ReloadHandle`] is dropped.
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn<I: Inspector>(r: Reloader<I>) -> std::io::Result<ReloadHandle> {
    let (tx, rx) = crossbeam::channel::unbounded();
    let stats = Arc::new(ReloadStats::default());
    stats.generation.store(1, Ordering::Release);
    let handle = ReloadHandle {
        tx,
        stats: stats.clone(),
    };
    std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || run(r, &rx, &stats))?;
    Ok(handle)
}

fn run<I: Inspector>(mut r: Reloader<I>, rx: &Receiver<Msg>, stats: &ReloadStats) {
    while let Ok(Msg::Reload(why, reply)) = rx.recv() {
        // Triggers that queued up while we waited are answered by this one build.
        let mut replies: Vec<Sender<Outcome>> = reply.into_iter().collect();
        while let Ok(Msg::Reload(_, more)) = rx.try_recv() {
            replies.extend(more);
        }
        let outcome = reload_once(&mut r, why, stats);
        for reply in replies {
            let _ = reply.send(outcome.clone());
        }
    }
}

fn reload_once<I: Inspector>(r: &mut Reloader<I>, why: Trigger, stats: &ReloadStats) -> Outcome {
    let event = |e: ReloadEvent, hooks: &[Hook]| hooks.iter().for_each(|h| h(&e));
    event(ReloadEvent::Started(why), &r.hooks);
    log!(Level::Info, "reloading the rules ({})", why.as_str());
    let t0 = Instant::now();
    match (r.build)() {
        Ok(next) => {
            let built = t0.elapsed();
            let shards = r.swap.install(next, CONFIRM_TIMEOUT);
            let generation = stats.generation.fetch_add(1, Ordering::AcqRel) + 1;
            stats.succeeded.fetch_add(1, Ordering::AcqRel);
            log!(
                Level::Info,
                "reloaded: generation {generation} built in {:.1} ms, in force on {shards}/{} shard(s)",
                built.as_secs_f64() * 1e3,
                r.swap.shards()
            );
            event(ReloadEvent::Done { generation, shards }, &r.hooks);
            Ok(generation)
        }
        Err(reason) => {
            let failed = stats.failed.fetch_add(1, Ordering::AcqRel) + 1;
            log!(
                Level::Error,
                "reload failed ({failed} so far), generation {} stays in force: {reason}",
                stats.generation()
            );
            event(
                ReloadEvent::Failed {
                    reason: reason.clone(),
                },
                &r.hooks,
            );
            Err(reason)
        }
    }
}

/// SIGHUP, caught from the moment [`Sighup::install`] returns (SIGHUP's default action
/// terminates the process) and turned into reloads once [`Sighup::forward_to`] is called; a
/// SIGHUP in between is remembered and reloads then.
pub struct Sighup(signal_hook::iterator::Signals);

impl std::fmt::Debug for Sighup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sighup")
    }
}

impl Sighup {
    /// Installs the handler. Call it before the server accepts.
    ///
    /// # Errors
    /// When the handler cannot be installed.
    pub fn install() -> std::io::Result<Sighup> {
        signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP]).map(Sighup)
    }

    /// Starts the thread that triggers a reload per SIGHUP, for as long as the process runs.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn forward_to(self, handle: ReloadHandle) -> std::io::Result<()> {
        let mut signals = self.0;
        std::thread::Builder::new()
            .name("sighup".into())
            .spawn(move || {
                for _ in signals.forever() {
                    handle.trigger(Trigger::Signal);
                }
            })?;
        Ok(())
    }
}
