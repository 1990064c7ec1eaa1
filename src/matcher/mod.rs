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

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
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
                    let mut set = self.compile_fresh()?;
                    set.stats.cache = match cache::store(dir, &key, &set) {
                        Ok(()) => CacheUse::Stored { rebuilt: why },
                        Err(e) => CacheUse::StoreFailed(e.to_string()),
                    };
                    set.stats.build_time = start.elapsed();
                    return Ok(set);
                }
            }
        }
        let mut set = self.compile_fresh()?;
        set.stats.build_time = start.elapsed();
        Ok(set)
    }

    /// Classifies every pattern and compiles the Hyperscan database.
    fn compile_fresh(self) -> Result<PatternSet, MatcherError> {
        let t0 = Instant::now();
        let mut exprs: Vec<Pattern> = Vec::new();
        let mut entries: Vec<HsEntry> = Vec::new();
        let mut pcre_only: Vec<PatternId> = Vec::new();
        let placements = classify_all(&self.specs);
        for (i, spec) in self.specs.iter().enumerate() {
            let id = PatternId(u32::try_from(i).unwrap_or(u32::MAX));
            match spec {
                Spec::Regex(p) => match placements.get(i).cloned().flatten() {
                    Some((pieces, confirm)) => {
                        for (expr, flags) in pieces {
                            exprs.push(Pattern::with_flags(expr, flags).map_err(hs_err(p))?);
                            entries.push(HsEntry {
                                pattern: id,
                                confirm,
                            });
                        }
                    }
                    None => pcre_only.push(id),
                },
                Spec::Phrases(list) => {
                    for phrase in list {
                        let flags = base_flags() | PatternFlags::CASELESS;
                        let expr = escape_literal(phrase);
                        exprs.push(Pattern::with_flags(expr, flags).map_err(hs_err("phrase"))?);
                        entries.push(HsEntry {
                            pattern: id,
                            confirm: Confirm::Never,
                        });
                    }
                }
                Spec::Literal(lit, kind) => {
                    let (expr, flags) = literal_expr(lit, *kind);
                    exprs.push(Pattern::with_flags(expr, flags).map_err(hs_err("literal"))?);
                    entries.push(HsEntry {
                        pattern: id,
                        confirm: Confirm::Never,
                    });
                }
            }
        }
        let classify_time = t0.elapsed();
        let t1 = Instant::now();
        // Compile together; should a combination fail where every expression compiled alone,
        // demote the regex Hyperscan names to PCRE2-only and retry (bounded by the count).
        let db = loop {
            if exprs.is_empty() {
                break None;
            }
            for (i, e) in exprs.iter_mut().enumerate() {
                e.id = Some(i);
            }
            match Patterns(exprs.clone()).build::<hyperscan::BlockMode>() {
                Ok(db) => break Some(db),
                Err(e) => {
                    let (msg, idx) = compile_error_parts(&e);
                    let demotable = idx
                        .and_then(|i| entries.get(i).map(|en| (i, en.pattern)))
                        .filter(|(_, pid)| {
                            self.codes.get(pid.0 as usize).is_some_and(Option::is_some)
                        });
                    let Some((i, pid)) = demotable else {
                        return Err(MatcherError {
                            pattern: idx
                                .and_then(|i| exprs.get(i))
                                .map_or_else(|| String::from("<set>"), |p| p.expression.clone()),
                            message: msg,
                        });
                    };
                    exprs.remove(i);
                    entries.remove(i);
                    pcre_only.push(pid);
                }
            }
        };
        pcre_only.sort();
        let hs_compile_time = t1.elapsed();
        let db_bytes = match &db {
            Some(d) => d.size().unwrap_or(0),
            None => 0,
        };
        let mut set = self.assemble(cache::Plan {
            db,
            db_bytes,
            entries,
            pcre_only,
        })?;
        set.stats.classify_time = classify_time;
        set.stats.hs_compile_time = hs_compile_time;
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

/// Where a regex goes: Hyperscan expressions (the pattern itself, or pieces whose union is it)
/// with their flags and the confirmation they need, or `None` = PCRE2 only.
type Placement = Option<(Vec<(String, PatternFlags)>, Confirm)>;

/// Places every regex (`None` for non-regexes and PCRE2-only ones). Each try is an independent
/// single-pattern compile, so they are spread over the available cores.
fn classify_all(specs: &[Spec]) -> Vec<Placement> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let place = |spec: &Spec| match spec {
        Spec::Regex(p) => classify(p),
        _ => None,
    };
    if threads < 2 || specs.len() < 16 {
        return specs.iter().map(place).collect();
    }
    // Interleaved so the few huge patterns (CRS 932xxx) do not all land on one thread.
    let mut out = vec![None; specs.len()];
    let results: Vec<Vec<(usize, Placement)>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                sc.spawn(move || {
                    (t..specs.len())
                        .step_by(threads)
                        .filter_map(|i| specs.get(i).map(|s| (i, place(s))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut done = vec![false; specs.len()];
    for (i, r) in results.into_iter().flatten() {
        if let (Some(slot), Some(d)) = (out.get_mut(i), done.get_mut(i)) {
            *slot = r;
            *d = true;
        }
    }
    // A thread that panicked (it cannot, short of OOM) leaves gaps: place those serially.
    for (i, d) in done.iter().enumerate() {
        if !d {
            if let (Some(slot), Some(spec)) = (out.get_mut(i), specs.get(i)) {
                *slot = place(spec);
            }
        }
    }
    out
}

/// Tries one regex alone: as is; else split into pieces Hyperscan takes exactly (see `split`);
/// else as a prefilter. `None` = PCRE2 only.
fn classify(p: &str) -> Placement {
    if let Some(pieces) = exact_pieces(p, 0) {
        return Some((pieces, Confirm::IfNewline));
    }
    let flags = try_compile(p, base_flags() | PatternFlags::PREFILTER).ok()?;
    Some((vec![(p.to_owned(), flags)], Confirm::Always))
}

/// How deep `exact_pieces` may halve: at most 4 pieces. Measured (perf/runs/*-matcher): CRS
/// 3.3.4's too-large command lists split into 2 pieces each and scan 5x faster than as
/// prefilters, while v4's evasion-interleaved lists need ~12 NFA-heavy pieces each and then
/// scan about 2x slower than prefilter + PCRE2; deeper splits are not worth it.
const MAX_SPLIT_DEPTH: u32 = 2;

/// Pieces longer than this are halved before Hyperscan is even asked: in libhs 5.4 the CRS
/// v4 command-list patterns fail as "too large" from about 4.5 KB and pass below about 3.5 KB,
/// and a failed attempt on a big pattern costs seconds.
const PRESPLIT_BYTES: usize = 3_000;

/// `p` as Hyperscan expressions matched exactly (no prefilter) whose union is `p`: `p` itself,
/// or, when Hyperscan finds it too large, the halves of its widest alternation, recursively.
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
    /// Of which: trying each regex alone to place it (zero when loaded from the cache).
    pub classify_time: Duration,
    /// Of which: compiling the one multi-pattern database (zero when loaded from the cache).
    pub hs_compile_time: Duration,
    /// Whether the disk cache was used.
    pub cache: CacheUse,
}

/// Source of [`PatternSet`] identities, so a scratch's memo only ever answers for its own set.
static NEXT_SET_ID: AtomicU64 = AtomicU64::new(1);

/// An immutable compiled set, shared by all shards (`Send + Sync`).
pub struct PatternSet {
    /// Unique per process; the memo of a [`SetScratch`] belongs to the set with this id.
    id: u64,
    db: Option<BlockDatabase>,
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

    /// Turns the scan memo on (the default) or off; off drops nothing, it only bypasses.
    /// For benchmarks and differential tests that want every scan to reach the engines.
    pub fn set_memo(&mut self, on: bool) {
        self.memo_on = on;
    }

    /// Bytes of Hyperscan scratch this scratch holds (0 for a set without a database).
    pub fn hs_bytes(&self) -> usize {
        self.hs.as_ref().and_then(|s| s.size().ok()).unwrap_or(0)
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
            memo_on: true,
        }
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
