//! The rule engine facade: loads a SecLang configuration and implements
//! [`crate::inspect::Inspector`].
//!
//! Owns the request and response drivers (phases 1 → body → 2 → 5, and 3 → 4) on top of
//! `eval`, and reading the anomaly score out of TX (`tx.blocking_inbound_anomaly_score` in
//! CRS 4, `tx.anomaly_score` in 3.3). The `RuleSet` is shared behind `Arc`; per-shard state
//! lives in [`EngineScratch`].

use std::path::Path;
use std::sync::Arc;

use crate::compile::{self, RuleSet};
pub use crate::eval::Evaluator;
use crate::eval::{ScanCache, Transaction};
use crate::inspect::{HttpRequest, HttpResponse, Inspector, Verdict};

/// A loaded, compiled rule set. Immutable; shared by every shard.
#[derive(Debug, Clone)]
pub struct Engine {
    rules: Arc<RuleSet>,
    evaluator: Evaluator,
}

/// Why a configuration could not be loaded.
#[derive(Debug)]
pub struct LoadError {
    /// Human-readable description, with file:line where known.
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}

impl Engine {
    /// Loads and compiles the configuration at `path` (with its `Include`s).
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        let cfg = crate::seclang::parse_file(path).map_err(|e| LoadError {
            message: e.to_string(),
        })?;
        let opts = compile::CompileOptions {
            cache_dir: default_cache_dir(),
        };
        let rules = compile::compile_with(cfg, &opts).map_err(|e| LoadError {
            message: e.to_string(),
        })?;
        Ok(Engine {
            rules: Arc::new(rules),
            evaluator: Evaluator::Planned,
        })
    }

    /// Compiles an already parsed configuration (an application's directives).
    pub fn from_config(cfg: crate::seclang::Config) -> Result<Self, LoadError> {
        let opts = compile::CompileOptions {
            cache_dir: default_cache_dir(),
        };
        let rules = compile::compile_with(cfg, &opts).map_err(|e| LoadError {
            message: e.to_string(),
        })?;
        Ok(Engine::from_rules(Arc::new(rules)))
    }

    /// Wraps an already compiled rule set.
    pub fn from_rules(rules: Arc<RuleSet>) -> Self {
        Engine {
            rules,
            evaluator: Evaluator::Planned,
        }
    }

    /// The same rules decided by `evaluator` (the default is [`Evaluator::Planned`];
    /// [`Evaluator::Reference`] is the literal, slow oracle).
    pub fn with_evaluator(mut self, evaluator: Evaluator) -> Self {
        self.evaluator = evaluator;
        self
    }

    /// The compiled rule set.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Warnings from loading (ignored directives), one line each.
    pub fn warnings(&self) -> &[String] {
        &self.rules.warnings
    }

    /// Runs phases 1 and 2 (with body processing between them) on a fresh transaction and
    /// returns it, so callers can continue with the response or logging phases. The
    /// transaction is the shard's recycled one (reset, buffers kept); [`Engine::finish`] gives
    /// it back.
    pub fn run_request(&self, scratch: &mut EngineScratch, req: &HttpRequest<'_>) -> Transaction {
        let rs = &*self.rules;
        let mut tx = self.take_tx(scratch);
        tx.load_request(rs, req);
        tx.run_phase(rs, 1);
        if tx.disruption().is_none() {
            tx.process_request_body(rs);
            tx.run_phase(rs, 2);
        }
        tx
    }

    /// Runs phases 3 and 4 on `tx` for `res`.
    pub fn run_response(&self, tx: &mut Transaction, res: &HttpResponse<'_>) {
        let rs = &*self.rules;
        if tx.disruption().is_some() {
            return;
        }
        tx.load_response(rs, res);
        tx.run_phase(rs, 3);
        tx.run_phase(rs, 4);
    }

    /// Runs the logging phase (5), produces the verdict and gives the scratch (and the
    /// transaction's buffers) back; `tx` is left empty.
    pub fn finish(&self, scratch: &mut EngineScratch, tx: &mut Transaction) -> Verdict {
        let rs = &*self.rules;
        tx.run_phase(rs, 5);
        let score = inbound_score(tx);
        let v = tx.verdict(score);
        self.give_back(scratch, tx);
        v
    }

    /// Runs the request phases and, unless the request was interrupted, keeps the transaction
    /// for its response instead of finishing it: the logging phase runs after the response
    /// ([`Engine::continue_response`]), as in one libmodsecurity3 transaction. The kept
    /// transaction owns its buffers; the shard's scan cache stays with the shard.
    pub fn inspect_request_keep(
        &self,
        scratch: &mut EngineScratch,
        req: &HttpRequest<'_>,
    ) -> (Verdict, Option<Transaction>) {
        let mut tx = self.run_request(scratch, req);
        if tx.disruption().is_some() {
            return (self.finish(scratch, &mut tx), None);
        }
        let v = tx.verdict(inbound_score(&tx));
        tx.clear_reported();
        scratch.scan = std::mem::take(&mut tx.scan);
        (v, Some(tx))
    }

    /// Continues a transaction kept by [`Engine::inspect_request_keep`] with its response:
    /// phases 3 and 4 see the request's TX variables, scores and `ctl` decisions; then the
    /// logging phase. `scratch` must be one this engine made.
    pub fn continue_response(
        &self,
        scratch: &mut EngineScratch,
        mut tx: Transaction,
        res: &HttpResponse<'_>,
    ) -> Verdict {
        tx.scan = self.take_scan(scratch);
        self.run_response(&mut tx, res);
        let rs = &*self.rules;
        tx.run_phase(rs, 5);
        let v = tx.verdict(outbound_score(&tx));
        self.give_back(scratch, &mut tx);
        v
    }

    /// A reset transaction holding the shard's buffers and scan cache.
    fn take_tx(&self, scratch: &mut EngineScratch) -> Transaction {
        let mut tx = std::mem::take(&mut scratch.tx);
        tx.reset();
        tx.scan = self.take_scan(scratch);
        tx.evaluator = self.evaluator;
        tx
    }

    /// Returns `tx`'s buffers and scan cache to the shard.
    fn give_back(&self, scratch: &mut EngineScratch, tx: &mut Transaction) {
        scratch.scan = std::mem::take(&mut tx.scan);
        scratch.tx = std::mem::take(tx);
        // Nothing of this transaction may be read through the scratch: reset now, not only
        // when the buffers are next lent.
        scratch.tx.reset();
    }

    fn new_sets(&self) -> Vec<crate::matcher::SetScratch> {
        self.rules
            .groups
            .iter()
            .map(|g| g.set.new_scratch())
            .collect()
    }

    /// Lends the shard's scan cache (Hyperscan scratch and buffers) to a transaction.
    fn take_scan(&self, scratch: &mut EngineScratch) -> ScanCache {
        let rs = &*self.rules;
        let lent = &scratch.scan.sets;
        if lent.len() != rs.groups.len()
            || !lent.iter().zip(&rs.groups).all(|(s, g)| s.serves(&g.set))
        {
            scratch.scan.sets = self.new_sets();
        }
        scratch.scan.clear();
        std::mem::take(&mut scratch.scan)
    }
}

/// The inbound anomaly score CRS computed (v4 name first, then 3.3's).
pub fn inbound_score(tx: &Transaction) -> i64 {
    tx.tx_int("blocking_inbound_anomaly_score")
        .or_else(|| tx.tx_int("anomaly_score"))
        .unwrap_or(0)
}

/// The outbound anomaly score CRS computed (v4 name first, then 3.3's).
pub fn outbound_score(tx: &Transaction) -> i64 {
    tx.tx_int("blocking_outbound_anomaly_score")
        .or_else(|| tx.tx_int("outbound_anomaly_score"))
        .unwrap_or(0)
}

/// Where compiled Hyperscan databases are cached between runs: `SPOA_WAF_CACHE_DIR` (empty:
/// no cache), else `/var/cache/spoa-waf` when it can be created and written, else none (never a
/// world-writable directory such as /tmp: a planted database would be loaded as trusted). The
/// cache is keyed by the exact pattern list and libhs version, so a stale entry is never used.
pub fn default_cache_dir() -> Option<std::path::PathBuf> {
    if let Some(d) = std::env::var_os("SPOA_WAF_CACHE_DIR") {
        return (!d.is_empty()).then(|| d.into());
    }
    let d = std::path::PathBuf::from("/var/cache/spoa-waf");
    let writable = std::fs::create_dir_all(&d).is_ok() && tempfile_probe(&d).is_ok();
    writable.then_some(d)
}

/// Creates and removes a file in `dir`, to learn whether the cache can be written there.
fn tempfile_probe(dir: &Path) -> std::io::Result<()> {
    let p = dir.join(format!(".probe-{}", std::process::id()));
    std::fs::write(&p, b"")?;
    std::fs::remove_file(&p)
}

/// Per-shard engine state: Hyperscan scratch for every pattern group, the buffers of the
/// per-transaction scan cache and a recycled [`Transaction`], reused from one transaction to
/// the next so a warm shard evaluates a typical request without allocating.
#[derive(Debug, Default)]
pub struct EngineScratch {
    scan: ScanCache,
    tx: Transaction,
}

/// What a shard's scans did so far (for benchmarks and profiles; style rule 14).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// (value, group) lookups in the per-transaction scan cache.
    pub lookups: u64,
    /// Lookups that scanned a value (the rest were answered in the transaction).
    pub scans: u64,
    /// Distinct transformed byte strings made (values included) and transformation steps run;
    /// the other steps were skipped on the byte-class signature or shared through the trie.
    pub outputs: u64,
    pub steps: u64,
    /// Of the scans, those answered by the cross-request memo and those that reached Hyperscan.
    pub memo_hits: u64,
    pub memo_misses: u64,
    /// Hyperscan reports and PCRE2 runs (confirmations and PCRE2-only patterns).
    pub hs_reports: u64,
    pub pcre_runs: u64,
}

impl EngineScratch {
    /// Counters summed over every pattern group.
    pub fn scan_stats(&self) -> ScanStats {
        let (lookups, scans, outputs, steps) = self.scan.lookup_counts();
        let mut st = ScanStats {
            lookups,
            scans,
            outputs,
            steps,
            ..ScanStats::default()
        };
        for c in self
            .scan
            .sets
            .iter()
            .map(crate::matcher::SetScratch::counters)
        {
            st.memo_hits += c.memo_hits;
            st.memo_misses += c.memo_misses;
            st.hs_reports += c.hs_hits;
            st.pcre_runs += c.pcre_runs;
        }
        st
    }
}

impl Inspector for Engine {
    type Scratch = EngineScratch;

    fn new_scratch(&self) -> EngineScratch {
        let mut scan = ScanCache::default();
        scan.sets = self.new_sets();
        EngineScratch {
            scan,
            tx: Transaction::new(),
        }
    }

    fn inspect_request(&self, scratch: &mut EngineScratch, req: &HttpRequest<'_>) -> Verdict {
        let mut tx = self.run_request(scratch, req);
        self.finish(scratch, &mut tx)
    }

    fn inspect_response(&self, scratch: &mut EngineScratch, res: &HttpResponse<'_>) -> Verdict {
        let mut tx = self.take_tx(scratch);
        let rs = &*self.rules;
        // The response arrives without its request's transaction, but CRS's response rules
        // rely on the TX settings phase 1 initialises (paranoia levels, thresholds). Replay
        // phase 1 quietly on a minimal request: side effects only, no log, no disruption.
        let hdrs = [4u8, b'h', b'o', b's', b't', 0, 0, 0];
        let minimal = HttpRequest {
            unique_id: res.unique_id,
            method: b"GET",
            path: b"/",
            query: None,
            version: res.version,
            headers: crate::inspect::HeaderBlock::Binary(&hdrs),
            body: b"",
            client: None,
            server: None,
        };
        tx.load_request(rs, &minimal);
        tx.quiet = true;
        tx.run_phase(rs, 1);
        tx.quiet = false;
        tx.load_response(rs, res);
        tx.run_phase(rs, 3);
        tx.run_phase(rs, 4);
        let v = tx.verdict(outbound_score(&tx));
        self.give_back(scratch, &mut tx);
        v
    }
}
