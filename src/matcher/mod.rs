//! Pattern matching: one Hyperscan block-mode database per [`PatternSet`], confirmed by PCRE2.
//!
//! Owns `@rx`, `@pm`/`@pmFromFile` and constant `@contains`/`@beginsWith`/`@endsWith`/`@streq`
//! matching, the PCRE2 wrapper ([`Regex`], captures) and the on-disk database cache. The only
//! module with `unsafe` (in `pcre`; Hyperscan goes through the `hyperscan` crate's safe API).
//!
//! **Contract: a Hyperscan hit means "maybe"; [`PatternSet::scan`] reports only exact matches.**
//! Regex semantics are PCRE2's with libmodsecurity3's `@rx` flags (`DOTALL | MULTILINE`, byte
//! mode). Hyperscan alone decides only where it provably agrees: phrases, literals, and regexes
//! it compiled exactly, on values without `\n` (multi-line anchors: measured equal, still insured).
//! Other hits are re-run by PCRE2: `HS_FLAG_PREFILTER` patterns (a superset) and any regex hit on
//! a value holding `\n`. Patterns neither mode accepts run on PCRE2 alone; empty values are
//! answered from a table PCRE2 filled at build time. Proof: the differential test over every CRS
//! `@rx` pattern (`tests/it/matcher.rs`). Refuses: streaming mode, UTF-8 mode.

mod cache;
mod memo;
mod pcre;
mod split;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyperscan::{BlockDatabase, Builder, Matching, Pattern, PatternFlags, Patterns};

pub use pcre::{CAPTURE_SLOTS, DEFAULT_MATCH_LIMIT};

/// Identifies one pattern (one `add_*` call) of a [`PatternSet`]; dense from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PatternId(pub u32);

/// A pattern a scan reported for one value, and whether it is known to match (see
/// [`PatternSet::scan_candidates`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The pattern.
    pub pattern: PatternId,
    state: Settle,
}

/// What is known of a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    Match,
    NoMatch,
    /// PCRE2 has not been asked yet.
    Open,
}

impl Candidate {
    /// A candidate known to match.
    pub(crate) fn exact(pattern: PatternId) -> Self {
        Candidate {
            pattern,
            state: Settle::Match,
        }
    }

    /// A candidate PCRE2 must still confirm.
    pub(crate) fn unconfirmed(pattern: PatternId) -> Self {
        Candidate {
            pattern,
            state: Settle::Open,
        }
    }

    /// A candidate PCRE2 has settled.
    pub(crate) fn settled(pattern: PatternId, matches: bool) -> Self {
        Candidate {
            pattern,
            state: if matches {
                Settle::Match
            } else {
                Settle::NoMatch
            },
        }
    }

    /// `Some(matches)` once settled, `None` while PCRE2 has not been asked.
    pub fn known(&self) -> Option<bool> {
        match self.state {
            Settle::Match => Some(true),
            Settle::NoMatch => Some(false),
            Settle::Open => None,
        }
    }
}

/// How a constant literal is compared with the value (case-sensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LiteralKind {
    /// `@contains`: the literal occurs anywhere.
    Contains,
    /// `@beginsWith`: the value starts with the literal.
    BeginsWith,
    /// `@endsWith`: the value ends with the literal.
    EndsWith,
    /// `@streq`: the value equals the literal.
    Equals,
}

/// A pattern that could not be compiled (or a set that could not be built).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatcherError {
    /// The offending pattern (or a short description of the set).
    pub pattern: String,
    /// What the regex engine said.
    pub message: String,
}

impl fmt::Display for MatcherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p: String = self.pattern.chars().take(120).collect();
        write!(f, "pattern `{p}`: {}", self.message)
    }
}

impl std::error::Error for MatcherError {}

/// One pattern as added; also what the disk cache compares against.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Spec {
    Regex(String),
    Phrases(Vec<Vec<u8>>),
    Literal(Vec<u8>, LiteralKind),
}

/// When a Hyperscan report for an expression must be re-checked by PCRE2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirm {
    /// Phrases and literals: Hyperscan is exact.
    Never,
    /// A regex Hyperscan compiled as is: trusted unless the value holds a `\n`. Multi-line anchor
    /// semantics are where the engines' documentation is closest to diverging; HS 5.4 measured
    /// equal (see the tests), so this is insurance costing one PCRE2 run per hit on such values.
    IfNewline,
    /// A regex compiled with `HS_FLAG_PREFILTER`: always only a candidate.
    Always,
}

/// One expression of the Hyperscan database; its index is the Hyperscan id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HsEntry {
    pattern: PatternId,
    confirm: Confirm,
}

/// Flags every expression gets: libmodsecurity3's `@rx` flags, and one report per pattern is all
/// a boolean answer needs.
fn base_flags() -> PatternFlags {
    PatternFlags::DOTALL | PatternFlags::MULTILINE | PatternFlags::SINGLEMATCH
}

/// Collects patterns, then compiles them into a [`PatternSet`].
pub struct PatternSetBuilder {
    specs: Vec<Spec>,
    /// PCRE2 code per pattern (regexes only), compiled on `add_regex` so errors surface early.
    codes: Vec<Option<pcre::Code>>,
    match_limit: u32,
}

impl fmt::Debug for PatternSetBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatternSetBuilder")
            .field("patterns", &self.specs.len())
            .field("match_limit", &self.match_limit)
            .finish()
    }
}

impl Default for PatternSetBuilder {
    fn default() -> Self {
        PatternSetBuilder {
            specs: Vec::new(),
            codes: Vec::new(),
            match_limit: DEFAULT_MATCH_LIMIT,
        }
    }
}

impl PatternSetBuilder {
    /// An empty builder with the default PCRE2 match limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the PCRE2 match limit for regexes added afterwards (`SecPcreMatchLimit`).
    pub fn set_match_limit(&mut self, limit: u32) -> &mut Self {
        self.match_limit = limit.max(1);
        self
    }

    /// Number of patterns added so far.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    fn push(&mut self, spec: Spec, code: Option<pcre::Code>) -> Result<PatternId, MatcherError> {
        let id = u32::try_from(self.specs.len()).map_err(|_| MatcherError {
            pattern: String::from("<set>"),
            message: String::from("more than 2^32 patterns"),
        })?;
        self.specs.push(spec);
        self.codes.push(code);
        Ok(PatternId(id))
    }

    /// A PCRE-syntax regex as libmodsecurity3 `@rx` compiles it (DOTALL | MULTILINE), byte mode
    /// (not UTF-8). Hyperscan first; HS-rejected patterns via HS_FLAG_PREFILTER + PCRE2
    /// confirmation; patterns neither can prefilter fall back to PCRE2 only. PCRE2 validates the
    /// pattern here; Hyperscan placement is decided in [`PatternSetBuilder::build`].
    pub fn add_regex(&mut self, pattern: &str) -> Result<PatternId, MatcherError> {
        let code = pcre::Code::new(pattern, self.match_limit).map_err(|e| MatcherError {
            pattern: pattern.to_owned(),
            message: format!("{} at offset {}", e.message, e.offset),
        })?;
        self.push(Spec::Regex(pattern.to_owned()), Some(code))
    }

    /// `@pm`/`@pmFromFile`: matches if any phrase occurs, case-insensitive (ASCII folding, as
    /// ModSecurity's Aho-Corasick). Empty phrases are ignored; a list of only empty phrases never
    /// matches.
    pub fn add_phrases(&mut self, phrases: &[Vec<u8>]) -> Result<PatternId, MatcherError> {
        let mut list: Vec<Vec<u8>> = phrases.iter().filter(|p| !p.is_empty()).cloned().collect();
        list.sort();
        list.dedup();
        self.push(Spec::Phrases(list), None)
    }

    /// `@contains`/`@beginsWith`/`@endsWith`/`@streq` with a constant argument (case-sensitive).
    /// An empty literal is contained in, begins and ends every value, and equals only "".
    pub fn add_literal(
        &mut self,
        lit: &[u8],
        kind: LiteralKind,
    ) -> Result<PatternId, MatcherError> {
        self.push(Spec::Literal(lit.to_vec(), kind), None)
    }

    /// Compiles the set (Hyperscan classification and database compile; can take seconds for
    /// the full CRS).
    pub fn build(self) -> Result<PatternSet, MatcherError> {
        self.build_cached(None)
    }

    /// Like [`PatternSetBuilder::build`], but first looks in `cache_dir` for a database compiled
    /// from exactly these patterns by this libhs, and stores a freshly compiled one there. A
    /// missing, corrupt or mismatched cache file means "compile"; a cache that cannot be written
    /// is skipped silently (see [`SetStats::cache`]).
    pub fn build_cached(self, cache_dir: Option<&Path>) -> Result<PatternSet, MatcherError> {
        self.build_with(cache_dir, &Facts::default())
    }

    /// [`PatternSetBuilder::build_cached`] sharing what Hyperscan said about single expressions
    /// with the other sets of a [`build_all`] call.
    fn build_with(
        self,
        cache_dir: Option<&Path>,
        facts: &Facts,
    ) -> Result<PatternSet, MatcherError> {
        let start = Instant::now();
        let key = cache::Key::new(&self.specs);
        if let Some(dir) = cache_dir {
            match cache::load(dir, &key, self.specs.len()) {
                Ok(plan) => {
                    let mut set = self.assemble(plan)?;
                    set.stats.cache = CacheUse::Loaded;
                    set.stats.build_time = start.elapsed();
                    return Ok(set);
                }
                Err(why) => {
                    let mut set = self.compile_fresh(facts)?;
                    set.stats.cache = match cache::store(dir, &key, &set) {
                        Ok(()) => CacheUse::Stored { rebuilt: why },
                        Err(e) => CacheUse::StoreFailed(e.to_string()),
                    };
                    set.stats.build_time = start.elapsed();
                    return Ok(set);
                }
            }
        }
        let mut set = self.compile_fresh(facts)?;
        set.stats.build_time = start.elapsed();
        Ok(set)
    }

    /// Places every pattern and compiles the Hyperscan database, with no compile spent only on
    /// finding out where a regex goes: each regex starts on trial as itself, and the set is
    /// compiled at once. Hyperscan compiles expressions in order and stops at the first it
    /// refuses, so a failed attempt proves every expression before that one and names the one it
    /// refused, whose [`Draft`] then takes the next step of the placement order (pieces,
    /// prefilter, PCRE2 only). Expressions on trial go first, so a refusal comes early. The
    /// result is the placement trial compiles of each regex alone would give (checked against
    /// [`classify`] over the CRS in the tests), for the cost of one compile plus the refusals.
    fn compile_fresh(self, facts: &Facts) -> Result<PatternSet, MatcherError> {
        let t0 = Instant::now();
        let mut drafts: Vec<Option<Draft>> = self
            .specs
            .iter()
            .map(|s| match s {
                Spec::Regex(p) => Some(Draft::exact(p)),
                _ => None,
            })
            .collect();
        // Phrases and literals are escaped bytes: Hyperscan takes them exactly, no trial needed.
        let mut fixed: Vec<(String, PatternFlags, PatternId)> = Vec::new();
        for (i, spec) in self.specs.iter().enumerate() {
            let id = PatternId(u32::try_from(i).unwrap_or(u32::MAX));
            match spec {
                Spec::Regex(_) => {}
                Spec::Phrases(list) => {
                    for phrase in list {
                        let flags = base_flags() | PatternFlags::CASELESS;
                        fixed.push((escape_literal(phrase), flags, id));
                    }
                }
                Spec::Literal(lit, kind) => {
                    let (expr, flags) = literal_expr(lit, *kind);
                    fixed.push((expr, flags, id));
                }
            }
        }
        let mut attempts = 0u32;
        let (db, order) = loop {
            facts.apply(&mut drafts, &self.specs);
            let (order, exprs) = attempt(&drafts, &fixed, attempts > 0)?;
            if order.is_empty() {
                break (None, order);
            }
            attempts += 1;
            let t = Instant::now();
            match Patterns(exprs).build::<hyperscan::BlockMode>() {
                Ok(db) => break (Some((db, t.elapsed())), order),
                Err(e) => {
                    let (msg, idx) = compile_error_parts(&e);
                    let refused = idx.and_then(|i| order.get(i).map(|s| (i, *s)));
                    let Some((i, slot)) = refused else {
                        return Err(MatcherError {
                            pattern: String::from("<set>"),
                            message: msg,
                        });
                    };
                    facts.record(&drafts, &order, i, &msg);
                    // Everything Hyperscan took before the refused expression passed parsing
                    // and graph analysis: no longer on trial.
                    for s in order.iter().take(i) {
                        if let Slot::Leaf(pi, li) = *s {
                            if let Some(l) = drafts
                                .get_mut(pi)
                                .and_then(Option::as_mut)
                                .and_then(|d| d.leaves.get_mut(li))
                            {
                                l.verified = true;
                            }
                        }
                    }
                    match slot {
                        Slot::Leaf(pi, li) => {
                            let (Some(Some(d)), Some(Spec::Regex(p))) =
                                (drafts.get_mut(pi), self.specs.get(pi))
                            else {
                                continue;
                            };
                            if d.leaves.get(li).is_some_and(|l| l.verified) {
                                // Taken alone (or earlier in an attempt) but refused in this
                                // combination: PCRE2 only, bounded by the number of regexes.
                                *d = Draft::pcre_only();
                            } else {
                                d.refused(p, li, &msg);
                            }
                        }
                        Slot::Fixed(fi) => {
                            return Err(MatcherError {
                                pattern: fixed
                                    .get(fi)
                                    .map_or_else(|| String::from("<set>"), |f| f.0.clone()),
                                message: msg,
                            });
                        }
                    }
                }
            }
        };
        let (db, hs_compile_time) = match db {
            Some((db, t)) => (Some(db), t),
            None => (None, Duration::ZERO),
        };
        let mut entries = Vec::with_capacity(order.len());
        for slot in &order {
            match *slot {
                Slot::Leaf(pi, _) => {
                    let confirm = match drafts.get(pi).and_then(Option::as_ref) {
                        Some(d) if d.stage == Stage::Prefilter => Confirm::Always,
                        _ => Confirm::IfNewline,
                    };
                    entries.push(HsEntry {
                        pattern: PatternId(u32::try_from(pi).unwrap_or(u32::MAX)),
                        confirm,
                    });
                }
                Slot::Fixed(fi) => {
                    if let Some((_, _, id)) = fixed.get(fi) {
                        entries.push(HsEntry {
                            pattern: *id,
                            confirm: Confirm::Never,
                        });
                    }
                }
            }
        }
        let pcre_only: Vec<PatternId> = drafts
            .iter()
            .enumerate()
            .filter(|(_, d)| d.as_ref().is_some_and(|d| d.stage == Stage::PcreOnly))
            .map(|(i, _)| PatternId(u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        let db_bytes = match &db {
            Some(d) => d.size().unwrap_or(0),
            None => 0,
        };
        #[cfg(test)]
        LAST_PLACEMENTS.with(|c| {
            *c.borrow_mut() = drafts
                .iter()
                .map(|d| d.as_ref().and_then(Draft::placement))
                .collect();
        });
        let mut set = self.assemble(cache::Plan {
            db: db.map(std::sync::Arc::new),
            db_bytes,
            entries,
            pcre_only,
        })?;
        set.stats.classify_time = t0.elapsed().saturating_sub(hs_compile_time);
        set.stats.hs_compile_time = hs_compile_time;
        set.stats.attempts = attempts;
        Ok(set)
    }

    /// A rough compile cost, to start the costliest sets first: regex bytes dominate.
    fn cost(&self) -> usize {
        self.specs
            .iter()
            .map(|s| match s {
                Spec::Regex(p) => p.len(),
                Spec::Phrases(list) => list.iter().map(Vec::len).sum::<usize>() / 8,
                Spec::Literal(lit, _) => lit.len() / 8,
            })
            .sum()
    }

    /// The set `other` (built from the same patterns) with this builder's PCRE2 codes and a copy
    /// of its database: no compile, no cache file.
    fn copy_of(self, other: &PatternSet) -> Result<PatternSet, MatcherError> {
        let start = Instant::now();
        // The same database, shared: no copy in memory (a copy cost its size twice over).
        let db = other.db.clone();
        let mut set = self.assemble(cache::Plan {
            db,
            db_bytes: other.stats.db_bytes,
            entries: other.entries.clone(),
            pcre_only: other.pcre_only.clone(),
        })?;
        set.stats.cache = CacheUse::Shared;
        set.stats.build_time = start.elapsed();
        Ok(set)
    }

    /// Puts a compiled (or cache-loaded) plan together with the PCRE2 codes.
    fn assemble(self, plan: cache::Plan) -> Result<PatternSet, MatcherError> {
        let mut pcre_scratch = pcre::PcreScratch::new();
        let mut empty_matches = Vec::new();
        for (i, spec) in self.specs.iter().enumerate() {
            let id = PatternId(u32::try_from(i).unwrap_or(u32::MAX));
            let hit = match spec {
                Spec::Regex(_) => self
                    .codes
                    .get(i)
                    .and_then(Option::as_ref)
                    .is_some_and(|c| c.is_match(&mut pcre_scratch, b"")),
                Spec::Phrases(_) => false,
                Spec::Literal(lit, LiteralKind::Equals) => lit.is_empty(),
                Spec::Literal(lit, _) => lit.is_empty(),
            };
            if hit {
                empty_matches.push(id);
            }
        }
        let stats = SetStats {
            patterns: self.specs.len(),
            hs_expressions: plan.entries.len(),
            prefiltered: plan
                .entries
                .iter()
                .filter(|e| e.confirm == Confirm::Always)
                .count(),
            pcre_only: plan.pcre_only.len(),
            db_bytes: plan.db_bytes,
            build_time: Duration::ZERO,
            classify_time: Duration::ZERO,
            hs_compile_time: Duration::ZERO,
            attempts: 0,
            cache: CacheUse::NotAsked,
        };
        Ok(PatternSet {
            id: NEXT_SET_ID.fetch_add(1, Ordering::Relaxed),
            db: plan.db,
            entries: plan.entries,
            pcre_only: plan.pcre_only,
            empty_matches,
            codes: self.codes,
            specs: self.specs,
            stats,
        })
    }
}

fn hs_err<'a>(what: &'a str) -> impl Fn(hyperscan::Error) -> MatcherError + 'a {
    move |e| MatcherError {
        pattern: what.to_owned(),
        message: e.to_string(),
    }
}

/// Message and (when Hyperscan knows it) the index of the expression a compile failed on.
fn compile_error_parts(e: &hyperscan::Error) -> (String, Option<usize>) {
    match e {
        hyperscan::Error::Hyperscan(hyperscan::HsError::CompileError(ce)) => {
            (ce.message().to_owned(), ce.expression())
        }
        other => (other.to_string(), None),
    }
}

/// What Hyperscan said about single expressions (by expression and flags) while sets compiled:
/// `None` = taken (passed parsing and graph analysis), else the refusal. Shared by the sets of
/// one [`build_all`] call, so a CRS command list that several variable classes hold is refused
/// once, not once per set (the refusal is a property of the expression alone, as the
/// placement itself assumes).
#[derive(Default)]
struct Facts(Mutex<HashMap<(u32, String), Option<String>>>);

impl Facts {
    /// Moves every draft past what is known about its expressions on trial.
    fn apply(&self, drafts: &mut [Option<Draft>], specs: &[Spec]) {
        let Ok(known) = self.0.lock() else {
            return;
        };
        if known.is_empty() {
            return;
        }
        for (d, spec) in drafts.iter_mut().zip(specs) {
            let (Some(d), Spec::Regex(p)) = (d, spec) else {
                continue;
            };
            // Each known refusal advances the draft, each known taking verifies a leaf: bounded.
            loop {
                let hit = d.leaves.iter().enumerate().find_map(|(i, l)| {
                    let fact = known.get(&(l.flags.bits(), l.expr.clone()));
                    fact.filter(|_| !l.verified).map(|f| (i, f.clone()))
                });
                match hit {
                    Some((i, None)) => {
                        if let Some(l) = d.leaves.get_mut(i) {
                            l.verified = true;
                        }
                    }
                    Some((i, Some(msg))) => d.refused(p, i, &msg),
                    None => break,
                }
            }
        }
    }

    /// Records an attempt refused at `order[refused]` with `msg`: what came before was taken.
    fn record(&self, drafts: &[Option<Draft>], order: &[Slot], refused: usize, msg: &str) {
        let Ok(mut known) = self.0.lock() else {
            return;
        };
        for (k, slot) in order.iter().enumerate().take(refused + 1) {
            let Slot::Leaf(pi, li) = *slot else {
                continue;
            };
            let Some(l) = drafts
                .get(pi)
                .and_then(Option::as_ref)
                .and_then(|d| d.leaves.get(li))
            else {
                continue;
            };
            if k < refused {
                known
                    .entry((l.flags.bits(), l.expr.clone()))
                    .or_insert(None);
            } else if !l.verified {
                // A leaf taken before and refused now is refused by the combination, not alone.
                known.insert((l.flags.bits(), l.expr.clone()), Some(msg.to_owned()));
            }
        }
    }
}

/// One expression of a set being compiled, in attempt order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Leaf `.1` of the draft of regex pattern `.0`.
    Leaf(usize, usize),
    /// Phrase or literal expression `.0`.
    Fixed(usize),
}

/// The expressions of the next compile attempt and where each comes from (same order, which is
/// also the Hyperscan id). The first attempt keeps the patterns' order (the database is the one
/// the patterns always gave); after a refusal, regex expressions still on trial go first,
/// longest first (the ones Hyperscan may refuse as too large), so the next refusal costs little
/// and an expression Hyperscan already took is not analysed again before it.
fn attempt(
    drafts: &[Option<Draft>],
    fixed: &[(String, PatternFlags, PatternId)],
    trial_first: bool,
) -> Result<(Vec<Slot>, Vec<Pattern>), MatcherError> {
    let mut canonical: Vec<Slot> = Vec::new();
    let mut fi = 0;
    for (pi, d) in drafts.iter().enumerate() {
        match d {
            Some(d) => canonical.extend((0..d.leaves.len()).map(|li| Slot::Leaf(pi, li))),
            None => {
                while fixed.get(fi).is_some_and(|f| f.2 .0 as usize == pi) {
                    canonical.push(Slot::Fixed(fi));
                    fi += 1;
                }
            }
        }
    }
    let leaf_of = |slot: &Slot| match *slot {
        Slot::Leaf(pi, li) => drafts
            .get(pi)
            .and_then(Option::as_ref)
            .and_then(|d| d.leaves.get(li)),
        Slot::Fixed(_) => None,
    };
    let order: Vec<Slot> = if trial_first {
        let mut trial: Vec<(usize, Slot)> = canonical
            .iter()
            .filter_map(|s| {
                leaf_of(s)
                    .filter(|l| !l.verified)
                    .map(|l| (l.expr.len(), *s))
            })
            .collect();
        // Stable: equal lengths keep pattern order, so attempts are deterministic.
        trial.sort_by_key(|t| std::cmp::Reverse(t.0));
        let rest = canonical
            .iter()
            .filter(|s| leaf_of(s).is_none_or(|l| l.verified))
            .copied();
        trial.into_iter().map(|(_, s)| s).chain(rest).collect()
    } else {
        canonical
    };
    let mut exprs = Vec::with_capacity(order.len());
    for (k, slot) in order.iter().enumerate() {
        let mut pat = match *slot {
            Slot::Leaf(..) => {
                let leaf = leaf_of(slot).ok_or_else(|| internal("draft leaf"))?;
                Pattern::with_flags(&leaf.expr, leaf.flags).map_err(hs_err(&leaf.expr))?
            }
            Slot::Fixed(fi) => {
                let (e, f, _) = fixed.get(fi).ok_or_else(|| internal("literal slot"))?;
                Pattern::with_flags(e, *f).map_err(hs_err("literal"))?
            }
        };
        pat.id = Some(k);
        exprs.push(pat);
    }
    Ok((order, exprs))
}

fn internal(what: &str) -> MatcherError {
    MatcherError {
        pattern: String::from("<set>"),
        message: format!("internal: missing {what}"),
    }
}

/// How far a regex has gone down the placement order: exactly as itself or as pieces whose union
/// is it; else as a `HS_FLAG_PREFILTER` candidate; else PCRE2 only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Exact,
    Prefilter,
    PcreOnly,
}

/// A Hyperscan expression a regex is placed as, on trial until a compile attempt took it.
#[derive(Debug, Clone)]
struct Leaf {
    expr: String,
    flags: PatternFlags,
    /// How many times the regex was halved to get here (see [`MAX_SPLIT_DEPTH`]).
    depth: u32,
    verified: bool,
}

/// Where one regex currently stands while its set compiles.
#[derive(Debug, Clone)]
struct Draft {
    stage: Stage,
    leaves: Vec<Leaf>,
}

impl Draft {
    fn exact(p: &str) -> Draft {
        Draft {
            stage: Stage::Exact,
            leaves: expand(p, 0),
        }
    }

    fn prefilter(p: &str) -> Draft {
        Draft {
            stage: Stage::Prefilter,
            leaves: vec![Leaf {
                expr: p.to_owned(),
                flags: base_flags() | PatternFlags::PREFILTER,
                depth: 0,
                verified: false,
            }],
        }
    }

    /// The finished draft as the reference [`classify`] states placements.
    #[cfg(test)]
    fn placement(&self) -> Placement {
        let confirm = match self.stage {
            Stage::Exact => Confirm::IfNewline,
            Stage::Prefilter => Confirm::Always,
            Stage::PcreOnly => return None,
        };
        let exprs = self.leaves.iter().map(|l| (l.expr.clone(), l.flags));
        Some((exprs.collect(), confirm))
    }

    fn pcre_only() -> Draft {
        Draft {
            stage: Stage::PcreOnly,
            leaves: Vec::new(),
        }
    }

    /// Hyperscan refused leaf `i` (of regex `p`) with `msg`: take the next step. The order is
    /// that of trying each expression alone: `ALLOWEMPTY` when asked for; a too-large piece is
    /// halved at its widest alternation while the depth allows; any other refusal of an exact
    /// piece sends the whole regex to the prefilter, and a refused prefilter to PCRE2 only.
    fn refused(&mut self, p: &str, i: usize, msg: &str) {
        let Some(leaf) = self.leaves.get_mut(i) else {
            return;
        };
        if msg.contains("ALLOWEMPTY") && !leaf.flags.contains(PatternFlags::ALLOWEMPTY) {
            leaf.flags |= PatternFlags::ALLOWEMPTY;
            return;
        }
        match self.stage {
            Stage::Exact => {
                if msg.contains("too large") && leaf.depth < MAX_SPLIT_DEPTH {
                    if let Some(s) = split::split(&leaf.expr) {
                        let (d, mid) = (leaf.depth + 1, s.mid());
                        let mut halves = expand(&s.piece(0..mid), d);
                        halves.extend(expand(&s.piece(mid..s.len()), d));
                        self.leaves.splice(i..=i, halves);
                        return;
                    }
                }
                *self = Draft::prefilter(p);
            }
            Stage::Prefilter | Stage::PcreOnly => *self = Draft::pcre_only(),
        }
    }
}

/// `p` as leaves at `depth`: itself, or (below the depth limit, when longer than
/// [`PRESPLIT_BYTES`]) the halves of its widest alternation without asking Hyperscan first.
fn expand(p: &str, depth: u32) -> Vec<Leaf> {
    if depth > 0 && depth < MAX_SPLIT_DEPTH && p.len() > PRESPLIT_BYTES {
        if let Some(s) = split::split(p) {
            let mid = s.mid();
            let mut out = expand(&s.piece(0..mid), depth + 1);
            out.extend(expand(&s.piece(mid..s.len()), depth + 1));
            return out;
        }
    }
    vec![Leaf {
        expr: p.to_owned(),
        flags: base_flags(),
        depth,
        verified: false,
    }]
}

/// How deep a regex may be halved: at most 4 pieces. Measured (perf/runs/*-matcher): CRS
/// 3.3.4's too-large command lists split into 2 pieces each and scan 5x faster than as
/// prefilters, while v4's evasion-interleaved lists need ~12 NFA-heavy pieces each and then
/// scan about 2x slower than prefilter + PCRE2; deeper splits are not worth it.
const MAX_SPLIT_DEPTH: u32 = 2;

/// Pieces longer than this are halved before Hyperscan is even asked: in libhs 5.4 the CRS
/// v4 command-list patterns fail as "too large" from about 4.5 KB and pass below about 3.5 KB,
/// and a failed attempt on a big pattern costs a tenth of a second.
const PRESPLIT_BYTES: usize = 3_000;

/// The reference placement [`PatternSetBuilder::compile_fresh`] must reproduce: Hyperscan
/// expressions with flags and their confirmation, or `None` = PCRE2 only.
#[cfg(test)]
type Placement = Option<(Vec<(String, PatternFlags)>, Confirm)>;

#[cfg(test)]
thread_local! {
    /// The placement of every pattern of the last set this thread compiled, for the tests.
    static LAST_PLACEMENTS: std::cell::RefCell<Vec<Placement>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Reference placement by trial compiles of `p` alone (the former build path, kept as the
/// oracle of the tests): as is; else split into exact pieces; else as a prefilter.
#[cfg(test)]
fn classify(p: &str) -> Placement {
    if let Some(pieces) = exact_pieces(p, 0) {
        return Some((pieces, Confirm::IfNewline));
    }
    let flags = try_compile(p, base_flags() | PatternFlags::PREFILTER).ok()?;
    Some((vec![(p.to_owned(), flags)], Confirm::Always))
}

/// `p` as Hyperscan expressions matched exactly (no prefilter) whose union is `p`: `p` itself,
/// or, when Hyperscan finds it too large, the halves of its widest alternation, recursively.
#[cfg(test)]
fn exact_pieces(p: &str, depth: u32) -> Option<Vec<(String, PatternFlags)>> {
    let halves = |s: split::Split<'_>| -> Option<Vec<(String, PatternFlags)>> {
        let mid = s.mid();
        let mut out = exact_pieces(&s.piece(0..mid), depth + 1)?;
        out.extend(exact_pieces(&s.piece(mid..s.len()), depth + 1)?);
        Some(out)
    };
    if depth > 0 && depth < MAX_SPLIT_DEPTH && p.len() > PRESPLIT_BYTES {
        if let Some(s) = split::split(p) {
            return halves(s);
        }
    }
    match try_compile(p, base_flags()) {
        Ok(flags) => Some(vec![(p.to_owned(), flags)]),
        Err(msg) if msg.contains("too large") && depth < MAX_SPLIT_DEPTH => {
            halves(split::split(p)?)
        }
        Err(_) => None,
    }
}

/// Compiles `p` alone with `flags`, adding `ALLOWEMPTY` when Hyperscan asks for it; the flags
/// that worked, or Hyperscan's message.
#[cfg(test)]
fn try_compile(p: &str, flags: PatternFlags) -> Result<PatternFlags, String> {
    let mut last = String::new();
    for flags in [flags, flags | PatternFlags::ALLOWEMPTY] {
        let pat = Pattern::with_flags(p, flags).map_err(|e| e.to_string())?;
        match pat.build::<hyperscan::BlockMode>() {
            Ok(_) => return Ok(flags),
            Err(e) => {
                last = compile_error_parts(&e).0;
                if !last.contains("ALLOWEMPTY") {
                    break;
                }
            }
        }
    }
    Err(last)
}

/// A Hyperscan expression matching `bytes` literally: alphanumerics as is, everything else as
/// `\xHH` (never a metacharacter, never a NUL in the C string).
fn escape_literal(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        if b.is_ascii_alphanumeric() {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

fn literal_expr(lit: &[u8], kind: LiteralKind) -> (String, PatternFlags) {
    let body = escape_literal(lit);
    let expr = match kind {
        LiteralKind::Contains => body,
        LiteralKind::BeginsWith => format!("\\A{body}"),
        LiteralKind::EndsWith => format!("{body}\\z"),
        LiteralKind::Equals => format!("\\A{body}\\z"),
    };
    let mut flags = base_flags();
    if lit.is_empty() {
        flags |= PatternFlags::ALLOWEMPTY;
    }
    (expr, flags)
}

/// Builds every builder as [`PatternSetBuilder::build_cached`] does; results in the builders'
/// order. Each Hyperscan compile runs on one thread, so the sets are spread over the available
/// CPUs, costliest first (the longest compile starts at once and the short ones fill in around
/// it). A builder with the same patterns as an earlier one gets a copy of that one's database
/// instead of a compile (or a cache load) of its own.
pub fn build_all(
    builders: Vec<PatternSetBuilder>,
    cache_dir: Option<&Path>,
) -> Vec<Result<PatternSet, MatcherError>> {
    let n = builders.len();
    // The first builder with the same patterns (compared in place: encoding every set's key
    // here only to drop it left megabytes of fragmented heap behind after loading).
    let original: Vec<usize> = (0..n)
        .map(|i| {
            (0..i)
                .find(|&j| builders.get(j).map(|b| &b.specs) == builders.get(i).map(|b| &b.specs))
                .unwrap_or(i)
        })
        .collect();
    let mut order: Vec<(usize, usize)> = builders
        .iter()
        .enumerate()
        .filter(|(i, _)| original.get(*i) == Some(i))
        .map(|(i, b)| (b.cost(), i))
        .collect();
    order.sort_by_key(|&(cost, i)| (std::cmp::Reverse(cost), i));
    let slots: Vec<Mutex<Option<PatternSetBuilder>>> =
        builders.into_iter().map(|b| Mutex::new(Some(b))).collect();
    let results: Vec<Mutex<Option<Result<PatternSet, MatcherError>>>> =
        (0..n).map(|_| Mutex::new(None)).collect();
    let take = |i: usize| slots.get(i).and_then(|m| m.lock().ok()?.take());
    let put = |i: usize, r: Result<PatternSet, MatcherError>| {
        if let Some(mut slot) = results.get(i).and_then(|m| m.lock().ok()) {
            *slot = Some(r);
        }
    };
    let facts = Facts::default();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let k = next.fetch_add(1, Ordering::Relaxed);
        let Some(&(_, i)) = order.get(k) else {
            break;
        };
        if let Some(b) = take(i) {
            put(i, b.build_with(cache_dir, &facts));
        }
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(order.len());
    if threads > 1 {
        std::thread::scope(|sc| {
            let handles: Vec<_> = (0..threads).map(|_| sc.spawn(work)).collect();
            // A worker that panicked (it cannot, short of OOM) leaves its builder in place:
            // the serial pass below builds it.
            for h in handles {
                let _ = h.join();
            }
        });
    }
    // Copies of the originals, and anything a worker did not get to.
    for i in 0..n {
        let Some(b) = take(i) else {
            continue;
        };
        let src = original.get(i).copied().filter(|&s| s != i);
        let r = match src.and_then(|s| results.get(s)).and_then(|m| m.lock().ok()) {
            Some(done) => match done.as_ref() {
                Some(Ok(set)) => b.copy_of(set),
                Some(Err(e)) => Err(e.clone()),
                None => b.build_with(cache_dir, &facts),
            },
            None => b.build_with(cache_dir, &facts),
        };
        put(i, r);
    }
    // Every file this rule set uses was just read (and touched) or written: what has not been
    // used for a while belongs to rules long gone.
    if let Some(dir) = cache_dir {
        cache::prune(dir, cache::UNUSED_FOR);
    }
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err(internal("set of build_all")))
        })
        .collect()
}

/// Whether a set came from the disk cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheUse {
    /// `build()` or `build_cached(None)`.
    NotAsked,
    /// Deserialized from the cache directory.
    Loaded,
    /// Compiled (the cache missed for the given reason) and written to the cache.
    Stored {
        /// Why the cache could not be used.
        rebuilt: String,
    },
    /// Compiled; writing the cache failed for the given reason.
    StoreFailed(String),
    /// Same patterns as another set of the same [`build_all`] call: a copy of its database.
    Shared,
}

/// Build figures of one set, for logs and benchmarks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetStats {
    /// Patterns added (PatternIds).
    pub patterns: usize,
    /// Expressions in the Hyperscan database (one per phrase, literal and HS-capable regex).
    pub hs_expressions: usize,
    /// Of those, compiled with `HS_FLAG_PREFILTER`.
    pub prefiltered: usize,
    /// Regexes only PCRE2 runs (on every value).
    pub pcre_only: usize,
    /// Size of the Hyperscan database in bytes.
    pub db_bytes: usize,
    /// Wall time of `build`/`build_cached`.
    pub build_time: Duration,
    /// Of which: placing the regexes, i.e. the compile attempts Hyperscan refused (zero when
    /// loaded from the cache).
    pub classify_time: Duration,
    /// Of which: compiling the one multi-pattern database (zero when loaded from the cache).
    pub hs_compile_time: Duration,
    /// Compile attempts of the database (each refusal of a regex costs one; 0 when loaded).
    pub attempts: u32,
    /// Whether the disk cache was used.
    pub cache: CacheUse,
}

/// Databases at least this large are memoized even without PCRE2 work (see `memo_pays`).
const MEMO_MIN_DB_BYTES: usize = 256 * 1024;

/// Source of [`PatternSet`] identities, so a scratch's memo only ever answers for its own set.
static NEXT_SET_ID: AtomicU64 = AtomicU64::new(1);

/// An immutable compiled set, shared by all shards (`Send + Sync`).
pub struct PatternSet {
    /// Unique per process; the memo of a [`SetScratch`] belongs to the set with this id.
    id: u64,
    /// Shared with the sets built from the same patterns (immutable; each shard scans it with
    /// its own scratch).
    db: Option<std::sync::Arc<BlockDatabase>>,
    /// Indexed by Hyperscan expression id.
    entries: Vec<HsEntry>,
    /// Regexes Hyperscan cannot take at all, sorted.
    pcre_only: Vec<PatternId>,
    /// Patterns matching the empty value, sorted.
    empty_matches: Vec<PatternId>,
    /// PCRE2 code by PatternId (regexes only).
    codes: Vec<Option<pcre::Code>>,
    specs: Vec<Spec>,
    stats: SetStats,
}

impl fmt::Debug for PatternSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatternSet")
            .field("stats", &self.stats)
            .finish()
    }
}

/// Per-shard mutable state: Hyperscan scratch, PCRE2 match data, hit buffer, counters. `Send`,
/// not shared.
pub struct SetScratch {
    hs: Option<hyperscan::Scratch>,
    pcre: pcre::PcreScratch,
    hits: Vec<u32>,
    /// Buffer for [`PatternSet::scan`]'s candidates.
    cands: Vec<Candidate>,
    counters: ScanCounters,
    /// Answers remembered for recent values; used only with the set `memo_set` names.
    memo: memo::Memo,
    memo_set: u64,
    memo_on: bool,
}

/// What the scans through one scratch did: prefilter hits against confirmations (style rule 14).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanCounters {
    /// `scan` calls.
    pub scans: u64,
    /// Hyperscan reports (one per expression per scan).
    pub hs_hits: u64,
    /// PCRE2 runs to confirm a Hyperscan report or to evaluate a PCRE2-only pattern.
    pub pcre_runs: u64,
    /// Of those, the ones that said "no" (prefilter false positives, non-matching PCRE2-only).
    pub pcre_rejects: u64,
    /// PCRE2 matches abandoned at the match limit (reported as no match).
    pub limit_hits: u64,
    /// Scans answered from the per-scratch memo (no Hyperscan, no PCRE2).
    pub memo_hits: u64,
    /// Non-empty scans the memo could not answer (including values too long to memoize).
    pub memo_misses: u64,
}

impl fmt::Debug for SetScratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetScratch")
            .field("counters", &self.counters())
            .finish()
    }
}

impl SetScratch {
    /// PCRE2 matches abandoned at the match limit through this scratch (reported as no match).
    pub fn match_limit_hits(&self) -> u64 {
        self.pcre.limit_hits
    }

    /// Turns the scan memo on or off; off drops nothing, it only bypasses. The default is on for
    /// sets where it pays (PCRE2 work or a large database; see `PatternSet::memo_pays`). For
    /// benchmarks and differential tests that want every scan to reach the engines, or tests of
    /// the memo itself.
    pub fn set_memo(&mut self, on: bool) {
        self.memo_on = on;
    }

    /// Whether this scratch was made by `set` (a scratch serves only its own set's database).
    pub fn serves(&self, set: &PatternSet) -> bool {
        self.memo_set == set.id
    }

    /// Counters of every scan through this scratch.
    pub fn counters(&self) -> ScanCounters {
        ScanCounters {
            limit_hits: self.pcre.limit_hits,
            ..self.counters
        }
    }
}

impl PatternSet {
    /// A scratch for one shard.
    ///
    /// # Panics
    /// When Hyperscan cannot allocate scratch memory (out of memory).
    pub fn new_scratch(&self) -> SetScratch {
        let hs = self.db.as_ref().map(|db| {
            db.alloc_scratch()
                .unwrap_or_else(|e| panic!("Hyperscan scratch allocation failed: {e}"))
        });
        SetScratch {
            hs,
            pcre: pcre::PcreScratch::new(),
            hits: Vec::with_capacity(64),
            cands: Vec::with_capacity(64),
            counters: ScanCounters::default(),
            memo: memo::Memo::new(),
            memo_set: self.id,
            memo_on: self.memo_pays(),
        }
    }

    /// Whether remembering answers beats recomputing them: a scan of a small database without
    /// PCRE2 work costs less than the memo's cache misses (measured on CRS 4.28, see
    /// perf/runs/2026-11-24-session2).
    fn memo_pays(&self) -> bool {
        self.stats.prefiltered > 0
            || !self.pcre_only.is_empty()
            || self.stats.db_bytes > MEMO_MIN_DB_BYTES
    }

    /// Exact (confirmed) matches of `value` against every pattern in the set, sorted, deduped.
    /// Values up to 256 bytes are answered from the scratch's memo when seen recently.
    /// Settles every candidate; callers that need only some patterns use
    /// [`PatternSet::scan_candidates`] and [`PatternSet::settle`].
    pub fn scan(&self, scratch: &mut SetScratch, value: &[u8], out: &mut Vec<PatternId>) {
        let mut cands = std::mem::take(&mut scratch.cands);
        self.scan_candidates(scratch, value, &mut cands);
        out.clear();
        for c in cands.iter_mut() {
            if self.settle(scratch, value, c) {
                out.push(c.pattern);
            }
        }
        scratch.cands = cands;
    }

    /// The patterns that may match `value`, sorted by pattern, one entry each: exact ones
    /// (phrases, literals, regexes Hyperscan decides) already settled, the rest (prefiltered
    /// regexes, PCRE2-only regexes, regex hits on values with `\n`) left for
    /// [`PatternSet::settle`], so a caller pays PCRE2 only for the patterns it asks about.
    /// Every pattern not listed does not match. Answered from the scratch's memo (with the
    /// confirmations settled since) for recently seen values up to 256 bytes.
    pub fn scan_candidates(
        &self,
        scratch: &mut SetScratch,
        value: &[u8],
        out: &mut Vec<Candidate>,
    ) {
        out.clear();
        scratch.counters.scans += 1;
        if value.is_empty() {
            out.extend(self.empty_matches.iter().map(|&p| Candidate::exact(p)));
            return;
        }
        let memo_key =
            (scratch.memo_on && scratch.memo_set == self.id && value.len() <= memo::MAX_VALUE)
                .then(|| scratch.memo.hash(value));
        if let Some(h) = memo_key {
            if scratch.memo.lookup(h, value, out) {
                scratch.counters.memo_hits += 1;
                return;
            }
        }
        scratch.counters.memo_misses += 1;
        self.scan_engines(scratch, value, out);
        if let Some(h) = memo_key {
            scratch.memo.insert(h, value, out);
        }
    }

    /// Whether candidate `c` (from [`PatternSet::scan_candidates`] on the same `value`) matches,
    /// running PCRE2 once if it is not settled yet; the answer is stored in `c` and in the memo.
    /// An answer a match-limit abort shaped is stored in `c` only: each such value must reach
    /// PCRE2 again in the next request so the limit is counted, as ModSecurity flags it.
    pub fn settle(&self, scratch: &mut SetScratch, value: &[u8], c: &mut Candidate) -> bool {
        match c.state {
            Settle::Match => return true,
            Settle::NoMatch => return false,
            Settle::Open => {}
        }
        let limit_before = scratch.pcre.limit_hits;
        let m = self.confirm(&mut scratch.pcre, &mut scratch.counters, c.pattern, value);
        *c = Candidate::settled(c.pattern, m);
        if scratch.pcre.limit_hits == limit_before
            && scratch.memo_on
            && scratch.memo_set == self.id
            && value.len() <= memo::MAX_VALUE
        {
            let h = scratch.memo.hash(value);
            scratch.memo.settle(h, value, *c);
        }
        m
    }

    /// The unmemoized scan: Hyperscan reports mapped to candidates, plus PCRE2-only patterns.
    fn scan_engines(&self, scratch: &mut SetScratch, value: &[u8], out: &mut Vec<Candidate>) {
        let SetScratch {
            hs, hits, counters, ..
        } = scratch;
        hits.clear();
        if let (Some(db), Some(hs)) = (&self.db, hs.as_ref()) {
            // Hyperscan takes a u32 length; values that long cannot reach us (SPOE frames and
            // body limits are far below 4 GiB), so clamp rather than fail.
            let len = value.len().min(u32::MAX as usize);
            let data = value.get(..len).unwrap_or(value);
            // The only possible errors are a foreign scratch (impossible: ours) or a callback
            // termination (we never terminate).
            let _ = db.scan(data, hs, |id: u32, _from, _to, _flags| {
                hits.push(id);
                Matching::Continue
            });
        }
        counters.hs_hits += hits.len() as u64;
        // Looked for only once a regex hit needs to know.
        let mut has_newline: Option<bool> = None;
        for &h in hits.iter() {
            let Some(entry) = self.entries.get(h as usize) else {
                continue;
            };
            let exact = match entry.confirm {
                Confirm::Never => true,
                Confirm::IfNewline => !*has_newline.get_or_insert_with(|| value.contains(&b'\n')),
                Confirm::Always => false,
            };
            out.push(if exact {
                Candidate::exact(entry.pattern)
            } else {
                Candidate::unconfirmed(entry.pattern)
            });
        }
        out.extend(self.pcre_only.iter().map(|&p| Candidate::unconfirmed(p)));
        // One entry per pattern; an exact report beats an unconfirmed one (a split pattern's
        // pieces may differ), so sort settled matches first within a pattern.
        out.sort_unstable_by_key(|c| (c.pattern, c.state != Settle::Match));
        out.dedup_by_key(|c| c.pattern);
    }

    fn confirm(
        &self,
        pcre: &mut pcre::PcreScratch,
        counters: &mut ScanCounters,
        p: PatternId,
        value: &[u8],
    ) -> bool {
        counters.pcre_runs += 1;
        let m = match self.codes.get(p.0 as usize) {
            Some(Some(code)) => code.is_match(pcre, value),
            _ => false,
        };
        if !m {
            counters.pcre_rejects += 1;
        }
        m
    }

    /// Runs regex pattern `id` alone on `value` with PCRE2 and fills `caps` with the spans of
    /// groups 0..=9 of the first match (for `capture`). False when `id` is not a regex of this set
    /// or does not match.
    pub fn captures(
        &self,
        scratch: &mut SetScratch,
        id: PatternId,
        value: &[u8],
        caps: &mut [Option<(usize, usize)>; CAPTURE_SLOTS],
    ) -> bool {
        match self.codes.get(id.0 as usize) {
            Some(Some(code)) => code.captures(&mut scratch.pcre, value, caps),
            _ => {
                *caps = [None; CAPTURE_SLOTS];
                false
            }
        }
    }

    /// Number of patterns (PatternIds) in the set.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// True for a set without patterns.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Build figures.
    pub fn stats(&self) -> &SetStats {
        &self.stats
    }
}

/// Standalone PCRE2 regex (byte mode, `DOTALL | MULTILINE`, JIT, match limit) for captures and
/// runtime (macro-expanded) patterns. Matching uses a per-thread scratch.
#[derive(Debug)]
pub struct Regex {
    code: pcre::Code,
    pattern: String,
}

thread_local! {
    static REGEX_SCRATCH: std::cell::RefCell<pcre::PcreScratch> =
        std::cell::RefCell::new(pcre::PcreScratch::new());
}

impl Regex {
    /// Compiles with the default match limit.
    pub fn new(pattern: &str) -> Result<Self, MatcherError> {
        Self::with_match_limit(pattern, DEFAULT_MATCH_LIMIT)
    }

    /// Compiles with an explicit match limit (`SecPcreMatchLimit`).
    pub fn with_match_limit(pattern: &str, limit: u32) -> Result<Self, MatcherError> {
        let code = pcre::Code::new(pattern, limit.max(1)).map_err(|e| MatcherError {
            pattern: pattern.to_owned(),
            message: format!("{} at offset {}", e.message, e.offset),
        })?;
        Ok(Regex {
            code,
            pattern: pattern.to_owned(),
        })
    }

    /// The source pattern.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Number of capturing groups.
    pub fn capture_count(&self) -> u32 {
        self.code.capture_count()
    }

    /// Whether PCRE2 JIT-compiled the pattern (false only where JIT is unavailable).
    pub fn is_jit(&self) -> bool {
        self.code.is_jit()
    }

    /// True if the regex matches somewhere; a match-limit hit is false (and counted, see
    /// [`regex_limit_hits`]).
    pub fn is_match(&self, hay: &[u8]) -> bool {
        REGEX_SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut s) => self.code.is_match(&mut s, hay),
            // Re-entrancy cannot happen (no callbacks run user code); be correct anyway.
            Err(_) => self.code.is_match(&mut pcre::PcreScratch::new(), hay),
        })
    }

    /// Fills caps[0..=9] with group spans of the first match; returns false when no match.
    pub fn captures(&self, hay: &[u8], caps: &mut [Option<(usize, usize)>; CAPTURE_SLOTS]) -> bool {
        REGEX_SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut s) => self.code.captures(&mut s, hay, caps),
            Err(_) => self.code.captures(&mut pcre::PcreScratch::new(), hay, caps),
        })
    }
}

/// Match-limit hits of [`Regex`] matches on the calling thread so far.
pub fn regex_limit_hits() -> u64 {
    REGEX_SCRATCH.with(|s| s.try_borrow().map_or(0, |s| s.limit_hits))
}

#[cfg(test)]
mod tests;
