//! Handing every shard a new inspector (hot reload) without a lock on the request path.
//!
//! Owns the per-shard channels only. Each shard's background task polls its receiver between
//! its other duties and replaces the shard's adapter (inspector `Arc` and a fresh scratch made
//! on the shard's own thread). A connection borrows the adapter for one NOTIFY at a time and
//! never across an `.await`, and the background task runs only at an `.await`, so the switch
//! happens at a frame boundary: a NOTIFY is answered wholly by the old rules or wholly by the
//! new ones. Deciding *when* and *what* to install is the `reload` module's business.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender};

use crate::inspect::Inspector;

/// One installation request: the new inspector and where the shard confirms the switch.
pub(crate) struct Install<I> {
    pub inspector: Arc<I>,
    pub done: Sender<usize>,
}

/// The sending side of every shard's install channel.
pub struct InspectorSwap<I: Inspector> {
    shards: Vec<Sender<Install<I>>>,
}

impl<I: Inspector> std::fmt::Debug for InspectorSwap<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InspectorSwap")
            .field("shards", &self.shards.len())
            .finish()
    }
}

impl<I: Inspector> InspectorSwap<I> {
    pub(crate) fn new(shards: Vec<Sender<Install<I>>>) -> Self {
        InspectorSwap { shards }
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// Sends `inspector` to every shard and waits (at most `timeout`) until each has switched.
    /// Returns how many shards confirmed; a stopped shard never does.
    pub fn install(&self, inspector: Arc<I>, timeout: Duration) -> usize {
        let (done_tx, done_rx) = crossbeam::channel::unbounded();
        let mut sent = 0;
        for s in &self.shards {
            let msg = Install {
                inspector: inspector.clone(),
                done: done_tx.clone(),
            };
            if s.send(msg).is_ok() {
                sent += 1;
            }
        }
        drop(done_tx);
        let deadline = Instant::now() + timeout;
        let mut confirmed = 0;
        while confirmed < sent {
            match done_rx.recv_deadline(deadline) {
                Ok(_) => confirmed += 1,
                Err(_) => break,
            }
        }
        confirmed
    }
}

/// The newest pending installation on `rx`, if any (older ones are confirmed and superseded).
pub(crate) fn latest<I>(rx: &Receiver<Install<I>>, index: usize) -> Option<Install<I>> {
    let mut last: Option<Install<I>> = None;
    while let Ok(m) = rx.try_recv() {
        if let Some(old) = last.replace(m) {
            let _ = old.done.send(index);
        }
    }
    last
}
