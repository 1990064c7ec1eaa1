//! The application registry: which compiled rule set answers a message.
//!
//! Owns the mapping from the coraza messages' `app` argument to an application (an unknown
//! or missing name falls back to the default; `check-request` always uses the default), the
//! sharing of one compilation between applications whose resolved directives are equal, and
//! one engine scratch per distinct rule set in each shard. Response inspection that continues
//! the request's transaction is [`crate::txstore`]'s; this module decides when to use it (the
//! application's `response_check`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{Engine, EngineScratch};
use crate::eval::Transaction;
use crate::inspect::{HttpRequest, HttpResponse, Inspector, Verdict};
use crate::server::log::{log, Level};
use crate::txstore::TxStore;

use super::{app_first_line, parse_directives, resolve, FileConfig, DEFAULT_TTL_MS};

/// One application.
#[derive(Debug)]
pub struct App {
    /// Its name (`app=` in HAProxy).
    pub name: String,
    /// Index into the distinct engines.
    engine: usize,
    /// Whether `coraza-res` continues the request's transaction.
    pub response_check: bool,
    /// How long a transaction waits for its response.
    pub ttl: Duration,
}

/// A request's transaction waiting for its response, with the rule set it started on (a
/// reload in between does not change the rules it finishes with).
#[derive(Debug)]
pub struct Kept {
    engine: Arc<Engine>,
    tx: Transaction,
}

/// The store of kept transactions, shared by every shard and every generation of rules.
pub type Store = TxStore<Kept>;

/// Transactions kept for responses at most, by default.
pub const DEFAULT_MAX_TRANSACTIONS: usize = 65_536;

/// Every application and their compiled rule sets. Immutable; shared by every shard; a reload
/// builds a new one around the same [`Store`].
#[derive(Debug)]
pub struct Applications {
    apps: Vec<App>,
    default: usize,
    engines: Vec<Arc<Engine>>,
    store: Arc<Store>,
}

impl Applications {
    /// One application named `default` over `engine` (`serve --rules`).
    pub fn single(engine: Engine, response_check: bool, ttl: Duration) -> Self {
        Applications {
            apps: vec![App {
                name: "default".into(),
                engine: 0,
                response_check,
                ttl,
            }],
            default: 0,
            engines: vec![Arc::new(engine)],
            store: Arc::new(Store::new(DEFAULT_MAX_TRANSACTIONS)),
        }
    }

    /// The same applications over `store` (the one the previous generation used, so its
    /// transactions can be joined after a reload).
    pub fn with_store(mut self, store: Arc<Store>) -> Self {
        self.store = store;
        self
    }

    /// The store of kept transactions.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Compiles every application of `cfg` (read from `path`), resolving the embedded-CRS
    /// names to `crs_dir`. Applications with equal resolved directives share one compilation.
    ///
    /// # Errors
    /// The first application that fails, with file:line.
    pub fn build(cfg: &FileConfig, path: &Path, crs_dir: &Path) -> Result<Self, String> {
        let mut keys: Vec<String> = Vec::new();
        let mut engines = Vec::new();
        let mut apps = Vec::new();
        for a in &cfg.applications {
            let resolved = resolve(&a.directives, crs_dir);
            let engine = match keys.iter().position(|k| *k == resolved) {
                Some(i) => i,
                None => {
                    let first = app_first_line(path, a);
                    let parsed = parse_directives(&resolved, path, first)
                        .map_err(|e| format!("application {:?}: {e}", a.name))?;
                    let engine = Engine::from_config(parsed)
                        .map_err(|e| format!("application {:?}: {e}", a.name))?;
                    for w in engine.warnings() {
                        log!(Level::Info, "application {:?}: {w}", a.name);
                    }
                    keys.push(resolved);
                    engines.push(Arc::new(engine));
                    engines.len() - 1
                }
            };
            apps.push(App {
                name: a.name.clone(),
                engine,
                response_check: a.response_check,
                ttl: Duration::from_millis(if a.transaction_ttl_ms == 0 {
                    DEFAULT_TTL_MS
                } else {
                    a.transaction_ttl_ms
                }),
            });
        }
        let default = cfg
            .default_application
            .as_ref()
            .and_then(|d| apps.iter().position(|a| &a.name == d))
            .unwrap_or(0);
        Ok(Applications {
            apps,
            default,
            engines,
            store: Arc::new(Store::new(DEFAULT_MAX_TRANSACTIONS)),
        })
    }

    /// The applications, in file order.
    pub fn apps(&self) -> &[App] {
        &self.apps
    }

    /// The default application.
    pub fn default_app(&self) -> &App {
        &self.apps[self.default]
    }

    /// Number of distinct compiled rule sets.
    pub fn compilations(&self) -> usize {
        self.engines.len()
    }

    /// The engine of `app`.
    pub fn engine(&self, app: &App) -> &Arc<Engine> {
        &self.engines[app.engine]
    }

    /// The application named `name`; the default for `None` or a name no application has.
    pub fn select(&self, name: Option<&[u8]>) -> &App {
        name.and_then(|n| self.apps.iter().find(|a| a.name.as_bytes() == n))
            .unwrap_or(&self.apps[self.default])
    }
}

/// A shard's scratch: one per distinct engine.
#[derive(Debug)]
pub struct AppsScratch {
    engines: Vec<EngineScratch>,
}

impl Applications {
    fn request(&self, s: &mut AppsScratch, app: &App, req: &HttpRequest<'_>) -> Verdict {
        let engine = &self.engines[app.engine];
        let scratch = &mut s.engines[app.engine];
        let id = match req.unique_id {
            Some(id) if app.response_check => id,
            _ => return engine.inspect_request(scratch, req),
        };
        let (v, kept) = engine.inspect_request_keep(scratch, req);
        if let Some(tx) = kept {
            let kept = Kept {
                engine: engine.clone(),
                tx,
            };
            self.store.insert(id, app.ttl, kept, Instant::now());
        }
        v
    }

    fn response(&self, s: &mut AppsScratch, app: &App, res: &HttpResponse<'_>) -> Verdict {
        let engine = &self.engines[app.engine];
        let scratch = &mut s.engines[app.engine];
        if !app.response_check {
            return engine.inspect_response(scratch, res);
        }
        let kept = match res.unique_id {
            Some(id) => self.store.take(id, Instant::now()),
            None => {
                self.store.count_unknown();
                None
            }
        };
        match kept {
            Some(k) if Arc::ptr_eq(&k.engine, engine) => {
                engine.continue_response(scratch, k.tx, res)
            }
            // Started before a reload: finish on the rules it started with, on a scratch of
            // theirs (rare: only transactions in flight across a reload).
            Some(k) => {
                let mut old = k.engine.new_scratch();
                k.engine.continue_response(&mut old, k.tx, res)
            }
            // Expired, evicted, decided by another agent, or no id: inspected alone.
            None => engine.inspect_response(scratch, res),
        }
    }
}

impl Inspector for Applications {
    type Scratch = AppsScratch;

    fn new_scratch(&self) -> AppsScratch {
        AppsScratch {
            engines: self.engines.iter().map(|e| e.new_scratch()).collect(),
        }
    }

    fn inspect_request(&self, s: &mut AppsScratch, req: &HttpRequest<'_>) -> Verdict {
        self.request(s, self.default_app(), req)
    }

    fn inspect_response(&self, s: &mut AppsScratch, res: &HttpResponse<'_>) -> Verdict {
        self.response(s, self.default_app(), res)
    }

    fn inspect_request_in(
        &self,
        s: &mut AppsScratch,
        app: Option<&[u8]>,
        req: &HttpRequest<'_>,
    ) -> Verdict {
        self.request(s, self.select(app), req)
    }

    fn inspect_response_in(
        &self,
        s: &mut AppsScratch,
        app: Option<&[u8]>,
        res: &HttpResponse<'_>,
    ) -> Verdict {
        self.response(s, self.select(app), res)
    }
}
