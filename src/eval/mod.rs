//! Evaluates a compiled [`RuleSet`] against one transaction, with libmodsecurity3 semantics.
//!
//! Owns the [`Transaction`] (request/response collections, TX and the per-transaction `ctl`
//! state), variable resolution (selectors, regex selectors, `!` exclusions, `&` counts),
//! transformations per value, operators, per-match side effects (`setvar`, captures,
//! `MATCHED_VAR(S)`) and per-rule effects (`ctl`, `skip`/`skipAfter`, logging, disruption),
//! phases 1–2 with the body processor between them, 3–4 for responses, 5 for logging.
//! It refuses to parse or compile anything: it reads only the `RuleSet`.
//! Semantics: crs-scope.md §11 (per-match actions, chains, phases, logging).

mod fast;
pub mod leaf;
mod log;
mod request;
mod scan;
mod values;
mod vars;

use std::collections::BTreeMap;
use std::mem::take;

use crate::compile::{
    AllowScope, BodyProcessor, Ctl, Disruptive, EngineMode, KeySel, Macro, MacroPart, Op, Rule,
    RuleSet, SetOp, Step, Target, Var,
};
use crate::inspect::{Disruption, DisruptiveAction, Verdict};
use leaf::body::multipart::Flags;
pub(crate) use scan::ScanCache;
use values::{Hits, KeyRef, NameRef, ValueRef, Values};

pub use request::RequestParts;

/// A name/value pair of a collection.
pub type Pair = (Vec<u8>, Vec<u8>);

/// The name of a value, rendered (`ARGS:p`) only when a match needs it.
#[derive(Debug, Clone)]
pub enum Name {
    /// A scalar variable (`REQUEST_URI`).
    Var(Var),
    /// A collection member (`ARGS:p`), key as received.
    Keyed(Var, Vec<u8>),
    /// Anything else, already rendered.
    Text(String),
}

impl Name {
    /// `VAR` or `VAR:key`.
    pub fn render(&self) -> String {
        match self {
            Name::Var(v) => v.name().to_string(),
            Name::Keyed(v, k) => format!("{}:{}", v.name(), String::from_utf8_lossy(k)),
            Name::Text(s) => s.clone(),
        }
    }
}

/// One value produced by a target: its name and the bytes.
#[derive(Debug, Clone)]
pub struct Value {
    /// `ARGS:p`, `REQUEST_URI`, …
    pub name: Name,
    /// The bytes.
    pub data: Vec<u8>,
    /// Where the bytes live when that place cannot change during the transaction
    /// (`source << 24 | index`), 0 otherwise: the scan cache then keys on it instead of
    /// hashing the content.
    pub origin: u32,
}

/// A `ctl` action that took effect in this transaction, by where it is written in the rule
/// set (`rs.rules[rule].ctls[ctl]`): recorded without copying its tag, message or target.
#[derive(Debug, Clone, Copy)]
struct CtlRef {
    rule: usize,
    ctl: usize,
}

impl CtlRef {
    fn get(self, rs: &RuleSet) -> Option<&Ctl> {
        rs.rules.get(self.rule)?.ctls.get(self.ctl)
    }
}

/// All state of one HTTP transaction.
#[derive(Debug, Default)]
pub struct Transaction {
    // --- request ---
    pub(crate) method: Vec<u8>,
    pub(crate) uri_raw: Vec<u8>,
    pub(crate) uri_decoded: Vec<u8>,
    pub(crate) filename: Vec<u8>,
    pub(crate) basename: Vec<u8>,
    pub(crate) query: Vec<u8>,
    pub(crate) protocol: Vec<u8>,
    pub(crate) request_line: Vec<u8>,
    pub(crate) headers: Vec<Pair>,
    pub(crate) cookies: Vec<Pair>,
    pub(crate) args_get: Vec<Pair>,
    pub(crate) args_post: Vec<Pair>,
    pub(crate) body: Vec<u8>,
    pub(crate) body_len: usize,
    pub(crate) expose_body: bool,
    pub(crate) files: Vec<(Vec<u8>, Vec<u8>, usize)>,
    pub(crate) part_headers: Vec<Pair>,
    pub(crate) multipart: Option<Flags>,
    pub(crate) xml_text: Vec<Vec<u8>>,
    pub(crate) xml_attrs: Vec<Vec<u8>>,
    pub(crate) processor: Option<BodyProcessor>,
    pub(crate) reqbody_error: bool,
    pub(crate) reqbody_error_msg: Vec<u8>,
    pub(crate) remote_addr: Vec<u8>,
    pub(crate) remote_port: u16,
    pub(crate) server_addr: Vec<u8>,
    pub(crate) server_port: u16,
    pub(crate) unique_id: Vec<u8>,
    pub(crate) hostname: Vec<u8>,
    // --- response ---
    pub(crate) response_status: Option<u16>,
    pub(crate) response_protocol: Vec<u8>,
    pub(crate) response_headers: Vec<Pair>,
    pub(crate) response_body: Vec<u8>,
    pub(crate) expose_response_body: bool,
    // --- rule state ---
    tx: vars::Vars,
    other_colls: BTreeMap<String, (String, Vec<u8>)>,
    matched_var: Vec<u8>,
    matched_var_name: String,
    matched_vars: Values,
    highest_severity: Option<u8>,
    // --- ctl state ---
    engine: Option<EngineMode>,
    removed_ids: Vec<(u32, u32)>,
    /// `ctl:ruleRemoveByTag` / `ByMsg` / `ruleRemoveTarget*` in effect.
    removed_tags: Vec<CtlRef>,
    removed_msgs: Vec<CtlRef>,
    removed_targets: Vec<CtlRef>,
    pub(crate) forced_processor: Option<BodyProcessor>,
    pub(crate) force_body_var: bool,
    pub(crate) body_access: Option<bool>,
    pub(crate) response_body_access: Option<bool>,
    allow: Option<AllowScope>,
    // --- results ---
    disruption: Option<Disruption>,
    logged: Vec<u32>,
    log_lines: Vec<String>,
    // --- scratch (contents meaningless between uses) ---
    buf_a: Vec<u8>,
    buf_b: Vec<u8>,
    /// Setvar key and value, a macro operator's argument, `@pm`'s lower-cased input.
    buf_key: Vec<u8>,
    buf_val: Vec<u8>,
    buf_arg: Vec<u8>,
    buf_lower: Vec<u8>,
    /// Value and hit arenas for `eval_rule` (one per chain depth in use).
    values_pool: Vec<Values>,
    hits_pool: Vec<Hits>,
    visit_scratch: values::VisitScratch,
    /// Per-transaction transform+scan results and the shard's Hyperscan scratch (lent by the
    /// engine): each value is transformed and scanned once per group per transaction.
    pub(crate) scan: scan::ScanCache,
    /// While set, rules run for their side effects only (no log line, no disruption).
    pub(crate) quiet: bool,
    /// Which evaluator decides pattern operators (set by the engine after each reset).
    pub(crate) evaluator: Evaluator,
    /// Spare collection pairs, refilled by [`Transaction::reset`].
    pub(crate) pools: request::Pools,
}

/// How a transaction decides pattern operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Evaluator {
    /// The compiled plan: per-transaction scan cache, grouped Hyperscan databases, lazy PCRE2
    /// confirmation and the no-match fast path (`fast`).
    #[default]
    Planned,
    /// Every rule applied literally: each selected value put through the rule's own
    /// transformations, then the rule's own operator (PCRE2 for `@rx`, the plain byte function
    /// otherwise). No scan cache, no grouping, no fast path: slow, and the oracle the planned
    /// evaluator is tested against (`tests/it/reference.rs`).
    Reference,
}

/// Outcome of evaluating one rule (or chain) against the transaction.
struct RuleMatch {
    matched: bool,
}

impl Transaction {
    /// A fresh transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets everything about the previous transaction, keeping buffer capacities, so a
    /// recycled transaction is indistinguishable from [`Transaction::new`] (a value leaking
    /// from one request into the next would be a security bug). The destructuring is
    /// exhaustive on purpose: a new field does not compile until it is reset here.
    pub fn reset(&mut self) {
        let Transaction {
            method,
            uri_raw,
            uri_decoded,
            filename,
            basename,
            query,
            protocol,
            request_line,
            headers,
            cookies,
            args_get,
            args_post,
            body,
            body_len,
            expose_body,
            files,
            part_headers,
            multipart,
            xml_text,
            xml_attrs,
            processor,
            reqbody_error,
            reqbody_error_msg,
            remote_addr,
            remote_port,
            server_addr,
            server_port,
            unique_id,
            hostname,
            response_status,
            response_protocol,
            response_headers,
            response_body,
            expose_response_body,
            tx,
            other_colls,
            matched_var,
            matched_var_name,
            matched_vars,
            highest_severity,
            engine,
            removed_ids,
            removed_tags,
            removed_msgs,
            removed_targets,
            forced_processor,
            force_body_var,
            body_access,
            response_body_access,
            allow,
            disruption,
            logged,
            log_lines,
            buf_a,
            buf_b,
            buf_key,
            buf_val,
            buf_arg,
            buf_lower,
            values_pool,
            hits_pool,
            visit_scratch,
            scan,
            quiet,
            evaluator,
            pools,
        } = self;
        for b in [
            method,
            uri_raw,
            uri_decoded,
            filename,
            basename,
            query,
            protocol,
            request_line,
            body,
            reqbody_error_msg,
            remote_addr,
            server_addr,
            unique_id,
            hostname,
            response_protocol,
            response_body,
            matched_var,
            buf_a,
            buf_b,
            buf_key,
            buf_val,
            buf_arg,
            buf_lower,
        ] {
            b.clear();
            // One huge request must not pin its memory for the life of the shard.
            if b.capacity() > MAX_KEPT_BUFFER {
                *b = Vec::new();
            }
        }
        values_pool.iter_mut().for_each(Values::clear_bounded);
        hits_pool.iter_mut().for_each(Hits::clear_bounded);
        visit_scratch.clear();
        pools.headers.recycle(headers);
        pools.cookies.recycle(cookies);
        pools.args_get.recycle(args_get);
        pools.args_post.recycle(args_post);
        pools.part_headers.recycle(part_headers);
        pools.response_headers.recycle(response_headers);
        *body_len = 0;
        *expose_body = false;
        files.clear();
        *multipart = None;
        xml_text.clear();
        xml_attrs.clear();
        *processor = None;
        *reqbody_error = false;
        *remote_port = 0;
        *server_port = 0;
        *response_status = None;
        *expose_response_body = false;
        tx.clear();
        other_colls.clear();
        matched_var_name.clear();
        matched_vars.clear_bounded();
        *highest_severity = None;
        *engine = None;
        removed_ids.clear();
        removed_tags.clear();
        removed_msgs.clear();
        removed_targets.clear();
        *forced_processor = None;
        *force_body_var = false;
        *body_access = None;
        *response_body_access = None;
        *allow = None;
        *disruption = None;
        logged.clear();
        log_lines.clear();
        // The scan cache is lent by the engine and cleared when lent; forget results anyway.
        scan.clear();
        *quiet = false;
        *evaluator = Evaluator::default();
    }

    /// The engine mode in effect (ctl:ruleEngine overrides the configuration).
    fn mode(&self, rs: &RuleSet) -> EngineMode {
        self.engine.unwrap_or(rs.settings.engine)
    }

    pub(crate) fn engine_override(&self) -> Option<EngineMode> {
        self.engine
    }

    pub(crate) fn response_body_access_override(&self) -> Option<bool> {
        self.response_body_access
    }

    pub(crate) fn set_disruption(&mut self, d: Disruption) {
        if self.disruption.is_none() {
            self.disruption = Some(d);
        }
    }

    /// Runs one phase (1–5). Returns early when the transaction was interrupted.
    pub fn run_phase(&mut self, rs: &RuleSet, phase: u8) {
        if self.disruption.is_some() || self.mode(rs) == EngineMode::Off {
            return;
        }
        match self.allow {
            Some(AllowScope::All) if phase < 5 => return,
            Some(AllowScope::Request) if phase <= 2 => return,
            Some(AllowScope::Phase) => self.allow = None,
            _ => {}
        }
        let Some(prog) = rs.phases.get(usize::from(phase.saturating_sub(1))) else {
            return;
        };
        let mut skip_n: u32 = 0;
        let mut skip_after: Option<u32> = None;
        for step in prog {
            let idx = match *step {
                Step::Marker(m) => {
                    if skip_after == Some(m) {
                        skip_after = None;
                    }
                    continue;
                }
                Step::Rule(idx) => idx,
            };
            if skip_after.is_some() {
                continue;
            }
            if skip_n > 0 {
                skip_n -= 1;
                continue;
            }
            let rule = &rs.rules[idx];
            if self.is_removed(rs, rule) {
                continue;
            }
            self.matched_vars.clear();
            let m = self.eval_rule(rs, idx, idx);
            if !m.matched {
                continue;
            }
            // Per-rule effects of the whole chain, once, after the full match.
            let mut r = Some(idx);
            while let Some(i) = r {
                let link = &rs.rules[i];
                for (ctl, c) in link.ctls.iter().enumerate() {
                    self.apply_ctl(c, CtlRef { rule: i, ctl });
                }
                r = link.chain;
            }
            if let Some(s) = rule.severity {
                self.highest_severity = Some(self.highest_severity.map_or(s, |h| h.min(s)));
            }
            let mode = self.mode(rs);
            let (disruptive, status) = match &rule.disruptive {
                Disruptive::Block => {
                    let d = &rs.defaults[usize::from(phase - 1)];
                    (d.disruptive.clone(), rule.status.or(d.status))
                }
                d => (d.clone(), rule.status),
            };
            let interrupting = matches!(
                disruptive,
                Disruptive::Deny | Disruptive::Drop | Disruptive::Redirect(_)
            );
            if rule.log && !self.quiet {
                let head = if interrupting && mode == EngineMode::On {
                    format!(
                        "Access denied with code {} (phase {phase}).",
                        status.unwrap_or(match disruptive {
                            Disruptive::Redirect(_) => 302,
                            _ => 403,
                        })
                    )
                } else {
                    "Warning.".to_string()
                };
                let line = log::line(self, rs, rule, &head);
                self.log_lines.push(line);
                self.logged.push(rule.id);
            }
            if rule.skip > 0 {
                skip_n = rule.skip;
            }
            if let Some(m) = rule.skip_after {
                skip_after = Some(m);
            }
            if mode != EngineMode::On || self.quiet {
                continue;
            }
            match disruptive {
                Disruptive::Deny | Disruptive::Drop | Disruptive::Redirect(_) => {
                    let (action, url) = match &disruptive {
                        Disruptive::Drop => (DisruptiveAction::Drop, String::new()),
                        Disruptive::Redirect(u) => (
                            DisruptiveAction::Redirect,
                            String::from_utf8_lossy(&self.expand(&Macro::parse(u))).into_owned(),
                        ),
                        _ => (DisruptiveAction::Deny, String::new()),
                    };
                    let default_status = if action == DisruptiveAction::Redirect {
                        302
                    } else {
                        403
                    };
                    self.disruption = Some(Disruption {
                        action,
                        status: status.unwrap_or(default_status),
                        rule_id: rule.id,
                        redirect_url: url,
                        phase,
                    });
                    return;
                }
                Disruptive::Allow(scope) => {
                    self.allow = Some(scope);
                    return;
                }
                Disruptive::Pass | Disruptive::Block => {}
            }
            if self.mode(rs) == EngineMode::Off {
                return;
            }
        }
    }

    fn is_removed(&self, rs: &RuleSet, rule: &Rule) -> bool {
        let tag_removed = |c: &CtlRef| match c.get(rs) {
            Some(Ctl::RuleRemoveByTag(r)) => rule.tags.iter().any(|t| t == r),
            _ => false,
        };
        let msg_removed = |c: &CtlRef| match (c.get(rs), &rule.msg) {
            (Some(Ctl::RuleRemoveByMsg(r)), Some(m)) => m.text == *r,
            _ => false,
        };
        self.removed_ids
            .iter()
            .any(|&(a, b)| rule.id >= a && rule.id <= b)
            || self.removed_tags.iter().any(tag_removed)
            || self.removed_msgs.iter().any(msg_removed)
    }

    fn apply_ctl(&mut self, c: &Ctl, at: CtlRef) {
        match c {
            Ctl::RuleEngine(m) => self.engine = Some(*m),
            Ctl::RuleRemoveById(r) => self.removed_ids.extend(r.iter().copied()),
            Ctl::RuleRemoveByTag(_) => self.removed_tags.push(at),
            Ctl::RuleRemoveByMsg(_) => self.removed_msgs.push(at),
            Ctl::RuleRemoveTargetById(..)
            | Ctl::RuleRemoveTargetByTag(..)
            | Ctl::RuleRemoveTargetByMsg(..) => self.removed_targets.push(at),
            Ctl::RequestBodyProcessor(p) => {
                // Visible at once: CRS 901340 reads REQBODY_PROCESSOR later in phase 1.
                self.forced_processor = Some(*p);
                self.processor = Some(*p);
            }
            Ctl::ForceRequestBodyVariable(b) => self.force_body_var = *b,
            Ctl::RequestBodyAccess(b) => self.body_access = Some(*b),
            Ctl::ResponseBodyAccess(b) => self.response_body_access = Some(*b),
            Ctl::Ignored => {}
        }
    }

    /// Evaluates rule `idx` and, when it matches, its chain. Per-match effects run here.
    fn eval_rule(&mut self, rs: &RuleSet, idx: usize, starter_idx: usize) -> RuleMatch {
        let rule = &rs.rules[idx];
        let starter_id = rule.id;
        let mut matched = false;
        if rule.targets.is_empty() {
            // SecAction: matches once, unconditionally.
            matched = true;
            self.run_setvars(rule);
        } else if self.evaluator == Evaluator::Planned && self.cannot_match(rs, rule) {
            // No value's cached scan matches: skip without copying or naming any value.
            return RuleMatch { matched: false };
        } else {
            // Arenas from the pool (a chain link nested below takes its own).
            let mut values = self.values_pool.pop().unwrap_or_default();
            let mut hits = self.hits_pool.pop().unwrap_or_default();
            values.clear();
            let starter = &rs.rules[starter_idx];
            for t in &rule.targets {
                self.collect_into(t, &mut values);
            }
            values.retain(|v| !self.excluded(rs, rule, starter, starter_id, v.name));
            for i in 0..values.len() {
                let v = values.get(i);
                hits.clear();
                // The operator may read MATCHED_VAR(_NAME) of the previous match (macros).
                self.match_value(rs, rule, &v, &mut hits);
                for h in 0..hits.len() {
                    let hit = hits.get(h);
                    matched = true;
                    self.matched_var.clear();
                    self.matched_var.extend_from_slice(hit);
                    self.matched_var_name.clear();
                    v.name.render_into(&mut self.matched_var_name);
                    self.matched_vars
                        .push_rendered(v.name, &self.matched_var_name, hit);
                    self.run_setvars(rule);
                }
            }
            self.values_pool.push(values);
            self.hits_pool.push(hits);
        }
        if !matched {
            return RuleMatch { matched: false };
        }
        if let Some(next) = rule.chain {
            let m = self.eval_rule(rs, next, starter_idx);
            if !m.matched {
                return m;
            }
        }
        RuleMatch { matched: true }
    }

    /// Whether the value named `name` is excluded from `rule` by a `!` target or a
    /// `ctl:ruleRemoveTarget*`.
    fn excluded(
        &self,
        rs: &RuleSet,
        rule: &Rule,
        starter: &Rule,
        id: u32,
        name: NameRef<'_>,
    ) -> bool {
        if rule.exclusions.iter().any(|t| target_covers(t, name)) {
            return true;
        }
        // ctl target removals apply to the whole chain; tags and msg live on the starter.
        self.removed_targets.iter().any(|r| match r.get(rs) {
            Some(Ctl::RuleRemoveTargetById(ranges, t)) => {
                ranges.iter().any(|&(a, b)| id >= a && id <= b) && target_covers(t, name)
            }
            Some(Ctl::RuleRemoveTargetByTag(tag, t)) => {
                starter.tags.iter().any(|x| x == tag) && target_covers(t, name)
            }
            Some(Ctl::RuleRemoveTargetByMsg(msg, t)) => {
                starter.msg.as_ref().is_some_and(|m| m.text == *msg) && target_covers(t, name)
            }
            _ => false,
        })
    }

    /// Runs the transformations and the operator on one value and pushes every matching
    /// transformed value to `hits` (one per matching stage with multiMatch). MATCHED_VAR is the
    /// transformed value, as in libmodsecurity3.
    fn match_value(&mut self, rs: &RuleSet, rule: &Rule, v: &ValueRef<'_>, hits: &mut Hits) {
        let var = match v.name {
            NameRef::Var(var) | NameRef::Keyed(var, _) => Some(var),
            NameRef::Count(_) => None,
        };
        let scanned = rule
            .prefilter
            .as_ref()
            .filter(|_| self.evaluator == Evaluator::Planned)
            .zip(var)
            .and_then(|(pf, var)| pf.for_var(var));
        if let Some((g, pid)) = scanned {
            let i = self.scan.lookup_at(rs, g, v.data, v.origin);
            let hit = self.scan.hit(rs, g, i, pid);
            if hit && rule.capture {
                match &rule.op {
                    Op::Rx(_) => {
                        let mut caps = [None; 10];
                        if self.scan.captures(rs, g, pid, i, &mut caps) {
                            // Lend the cache out so its value is read in place (no copy).
                            let scan = take(&mut self.scan);
                            self.set_captures(scan.transformed(i), &caps);
                            self.scan = scan;
                        }
                    }
                    _ => {
                        let scan = take(&mut self.scan);
                        self.op_matches(rule, scan.transformed(i));
                        self.scan = scan;
                    }
                }
            }
            if hit != rule.negated {
                hits.push(self.scan.transformed(i));
            }
            return;
        }
        if rule.transforms.is_empty() {
            if self.run_op(rule, v.data) {
                hits.push(v.data);
            }
            return;
        }
        let mut a = take(&mut self.buf_a);
        let mut b = take(&mut self.buf_b);
        a.clear();
        a.extend_from_slice(v.data);
        if rule.multi_match {
            // The operator runs on the value, then after every transformation that changed it.
            if self.run_op(rule, &a) {
                hits.push(&a);
            }
            for t in &rule.transforms {
                if t.apply(&a, &mut b) {
                    std::mem::swap(&mut a, &mut b);
                    if self.run_op(rule, &a) {
                        hits.push(&a);
                    }
                }
            }
        } else {
            for t in &rule.transforms {
                t.apply(&a, &mut b);
                std::mem::swap(&mut a, &mut b);
            }
            if self.run_op(rule, &a) {
                hits.push(&a);
            }
        }
        self.buf_a = a;
        self.buf_b = b;
    }

    /// The operator (negation applied). Captures fill TX:0–9 when the rule has `capture`.
    fn run_op(&mut self, rule: &Rule, input: &[u8]) -> bool {
        let r = self.op_matches(rule, input);
        r != rule.negated
    }

    fn op_matches(&mut self, rule: &Rule, input: &[u8]) -> bool {
        use leaf::ops;
        match &rule.op {
            Op::Rx(re) => {
                if rule.capture {
                    let mut caps = [None; 10];
                    if re.captures(input, &mut caps) {
                        self.set_captures(input, &caps);
                        true
                    } else {
                        false
                    }
                } else {
                    re.is_match(input)
                }
            }
            Op::RxMacro(m) => {
                // Compiled per evaluation: the pattern depends on the transaction (rare in CRS).
                let pat = String::from_utf8_lossy(&self.expand(m)).into_owned();
                match leaf::matcher::Regex::new(&pat) {
                    Ok(re) => {
                        let mut caps = [None; 10];
                        let hit = re.captures(input, &mut caps);
                        if hit && rule.capture {
                            self.set_captures(input, &caps);
                        }
                        hit
                    }
                    Err(_) => false,
                }
            }
            Op::Pm(phrases) => {
                let mut lower = take(&mut self.buf_lower);
                lower.clear();
                lower.extend(input.iter().map(u8::to_ascii_lowercase));
                let hit = phrases
                    .iter()
                    .find(|p| !p.is_empty() && contains(&lower, p));
                self.buf_lower = lower;
                if let (Some(p), true) = (hit, rule.capture) {
                    self.tx.set(b"0", p);
                }
                hit.is_some()
            }
            Op::Streq(a) => self.with_arg(a, |a| a == input),
            Op::Contains(a) => self.with_arg(a, |a| contains(input, a)),
            Op::ContainsWord(a) => self.with_arg(a, |a| contains_word(input, a)),
            Op::BeginsWith(a) => self.with_arg(a, |a| input.starts_with(a)),
            Op::EndsWith(a) => self.with_arg(a, |a| input.ends_with(a)),
            Op::Within(a) => self.with_arg(a, |a| ops::within::within(input, a)),
            Op::StrMatch(a) => self.with_arg(a, |a| contains(input, a)),
            Op::Eq(a) => self.with_arg(a, |a| ops::compare::eq(input, a)),
            Op::Ge(a) => self.with_arg(a, |a| ops::compare::ge(input, a)),
            Op::Gt(a) => self.with_arg(a, |a| ops::compare::gt(input, a)),
            Op::Le(a) => self.with_arg(a, |a| ops::compare::le(input, a)),
            Op::Lt(a) => self.with_arg(a, |a| ops::compare::lt(input, a)),
            Op::ValidateByteRange(r) => r.violates(input),
            Op::ValidateUrlEncoding => ops::validate::url_encoding_invalid(input),
            Op::ValidateUtf8Encoding => ops::validate::utf8_encoding_invalid(input),
            Op::IpMatch(m) => m.matches(input),
            Op::DetectSqli => match ops::libinjection::detect_sqli(input) {
                Some(fp) => {
                    if rule.capture {
                        self.tx.set(b"0", fp.as_bytes());
                    }
                    true
                }
                None => false,
            },
            Op::DetectXss => ops::libinjection::detect_xss(input),
            Op::Unconditional => true,
            Op::NoMatch => false,
        }
    }

    fn set_captures(&mut self, input: &[u8], caps: &[Option<(usize, usize)>; 10]) {
        for (i, c) in caps.iter().enumerate() {
            if let Some((s, e)) = *c {
                let v = input.get(s..e).unwrap_or_default();
                self.tx.set(DIGITS[i].as_bytes(), v);
            }
        }
    }

    /// Calls `f` with an operator argument, macro-expanded into a reused buffer when needed.
    fn with_arg<R>(&mut self, m: &Macro, f: impl FnOnce(&[u8]) -> R) -> R {
        if let Some(c) = m.constant() {
            return f(c);
        }
        let mut buf = take(&mut self.buf_arg);
        buf.clear();
        self.expand_into(m, &mut buf);
        let r = f(&buf);
        self.buf_arg = buf;
        r
    }

    fn run_setvars(&mut self, rule: &Rule) {
        if rule.setvars.is_empty() {
            return;
        }
        let mut key = take(&mut self.buf_key);
        let mut val = take(&mut self.buf_val);
        for sv in &rule.setvars {
            key.clear();
            self.expand_into(&sv.key, &mut key);
            // Keys are text: invalid UTF-8 is replaced, as it always was (rare: copies).
            if std::str::from_utf8(&key).is_err() {
                key = String::from_utf8_lossy(&key).into_owned().into_bytes();
            }
            if sv.coll != Var::Tx {
                self.set_other(sv, &key);
                continue;
            }
            let m = match &sv.op {
                SetOp::Delete => {
                    self.tx.remove(&key);
                    continue;
                }
                SetOp::Set(m) | SetOp::Add(m) | SetOp::Sub(m) => m,
            };
            val.clear();
            self.expand_into(m, &mut val);
            match &sv.op {
                SetOp::Add(_) | SetOp::Sub(_) => {
                    let cur = self.tx.get(&key).map_or(0, to_int);
                    let d = to_int(&val);
                    let n = if matches!(sv.op, SetOp::Add(_)) {
                        cur.saturating_add(d)
                    } else {
                        cur.saturating_sub(d)
                    };
                    values::with_number(n, |n| self.tx.set(&key, n));
                }
                _ => self.tx.set(&key, &val),
            }
        }
        self.buf_key = key;
        self.buf_val = val;
    }

    /// `setvar` on a collection other than TX (IP, GLOBAL, …: not persisted, rare).
    fn set_other(&mut self, sv: &crate::compile::SetVar, key: &[u8]) {
        let key_raw = String::from_utf8_lossy(key).into_owned();
        let full = format!("{}.{}", sv.coll.name(), key_raw.to_ascii_lowercase());
        let m = match &sv.op {
            SetOp::Delete => {
                self.other_colls.remove(&full);
                return;
            }
            SetOp::Set(m) | SetOp::Add(m) | SetOp::Sub(m) => m,
        };
        let val = self.expand(m);
        let new = match &sv.op {
            SetOp::Add(_) | SetOp::Sub(_) => {
                let cur = self
                    .other_colls
                    .get(&full)
                    .map(|(_, v)| to_int(v))
                    .unwrap_or(0);
                let d = to_int(&val);
                let n = if matches!(sv.op, SetOp::Add(_)) {
                    cur.saturating_add(d)
                } else {
                    cur.saturating_sub(d)
                };
                n.to_string().into_bytes()
            }
            _ => val,
        };
        self.other_colls.insert(full, (key_raw, new));
    }

    /// Expands `%{…}` macros (allocating; the evaluator uses [`Transaction::expand_into`]).
    pub(crate) fn expand(&self, m: &Macro) -> Vec<u8> {
        let mut out = Vec::new();
        self.expand_into(m, &mut out);
        out
    }

    /// Appends the expansion of `m` to `out`: each `%{VAR.key}` is the first value it selects.
    pub(crate) fn expand_into(&self, m: &Macro, out: &mut Vec<u8>) {
        if let Some(c) = m.constant() {
            out.extend_from_slice(c);
            return;
        }
        for p in &m.parts {
            match p {
                MacroPart::Lit(l) => out.extend_from_slice(l),
                MacroPart::Ref(var, key) => {
                    let key = match key {
                        // Keys compare case-insensitively: no lower-casing needed.
                        Some(k) => KeyRef::Name(k.as_bytes()),
                        None => KeyRef::All,
                    };
                    self.first_value_into(*var, key, out);
                }
            }
        }
    }

    /// The verdict so far.
    pub fn verdict(&self, inbound_score: i64) -> Verdict {
        let mut ids = self.logged.clone();
        ids.sort_unstable();
        ids.dedup();
        Verdict {
            disruption: self.disruption.clone(),
            logged_rule_ids: ids,
            log_lines: self.log_lines.clone(),
            anomaly_score: inbound_score,
        }
    }

    /// The value of `TX:key` parsed as an integer (0 when absent).
    pub fn tx_int(&self, key: &str) -> Option<i64> {
        self.tx.get(key.as_bytes()).map(to_int)
    }

    /// Ids of logged rules in order (duplicates kept).
    pub fn logged_ids(&self) -> &[u32] {
        &self.logged
    }

    /// Forgets the log lines and logged ids reported so far: a transaction that continues
    /// with its response reports only what the response phases add.
    pub fn clear_reported(&mut self) {
        self.logged.clear();
        self.log_lines.clear();
    }

    /// The interruption, if any.
    pub fn disruption(&self) -> Option<&Disruption> {
        self.disruption.as_ref()
    }
}

/// Buffers a recycled transaction keeps at most this capacity; larger ones (a big body, its
/// copies) are released by [`Transaction::reset`] and grown again when needed.
pub(crate) const MAX_KEPT_BUFFER: usize = 256 * 1024;

/// `Value::origin` for element `i` of stable source `src` (0 when it does not fit).
fn origin(src: u32, i: usize) -> u32 {
    match u32::try_from(i) {
        Ok(i) if i < (1 << 24) - 1 => (src << 24) | (i + 1),
        _ => 0,
    }
}

const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Whether target `t` covers the value named `name` (for `!` exclusions and ctl removals).
/// A count (`&ARGS`) is never covered: no variable is named `&…`.
fn target_covers(t: &Target, name: NameRef<'_>) -> bool {
    match name {
        NameRef::Var(v) => t.var == v && matches!(t.key, KeySel::All),
        NameRef::Keyed(v, k) => t.var == v && key_selected(&t.key, k),
        NameRef::Count(_) => false,
    }
}

fn key_selected(sel: &KeySel, key: &[u8]) -> bool {
    match sel {
        KeySel::All => true,
        KeySel::Name(n) => key.eq_ignore_ascii_case(n.as_bytes()),
        KeySel::Regex(re, _) => re.is_match(key),
    }
}

/// ModSecurity's integer reading: leading blanks, optional sign, digits; anything else is 0.
pub(crate) fn to_int(v: &[u8]) -> i64 {
    let s = v.trim_ascii();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            break;
        }
        n = n.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn contains_word(hay: &[u8], word: &[u8]) -> bool {
    if word.is_empty() {
        return true;
    }
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    hay.windows(word.len()).enumerate().any(|(i, w)| {
        w == word
            && (i == 0 || !is_word(hay[i - 1]))
            && hay.get(i + word.len()).is_none_or(|&c| !is_word(c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_parse_like_modsecurity() {
        assert_eq!(to_int(b" 42abc"), 42);
        assert_eq!(to_int(b"-3"), -3);
        assert_eq!(to_int(b"x"), 0);
    }

    fn engine(text: &str) -> crate::engine::Engine {
        let cfg = crate::seclang::parse_str(text, std::path::Path::new("t.conf")).unwrap();
        let rs = crate::compile::compile(cfg).unwrap();
        crate::engine::Engine::from_rules(std::sync::Arc::new(rs))
    }

    fn logged(e: &crate::engine::Engine, uri: &str) -> Vec<u32> {
        use crate::inspect::Inspector;
        let line = format!(
            r#"{{"name":"t","method":"GET","uri":"{uri}","version":"1.1","headers":[["Host","h"]]}}"#
        );
        let r = crate::corpus::CorpusRequest::parse(&line, 1).unwrap();
        let mut scratch = e.new_scratch();
        e.inspect_request(&mut scratch, &r.as_request())
            .logged_rule_ids
    }

    /// An operator argument sees MATCHED_VAR_NAME / MATCHED_VAR of the previous match while
    /// the next rule's values are matched (names are rendered into the transaction in place).
    #[test]
    fn operator_macros_see_the_previous_match() {
        let e = engine(
            "SecRuleEngine On\n\
             SecRule ARGS:a \"@rx .\" \"id:1,phase:1,pass,nolog\"\n\
             SecRule ARGS:b \"@streq %{MATCHED_VAR_NAME}\" \"id:2,phase:1,pass,log\"\n\
             SecRule ARGS:c \"@streq %{MATCHED_VAR}\" \"id:3,phase:1,pass,log\"\n",
        );
        assert_eq!(logged(&e, "/?a=x&b=ARGS:a&c=ARGS:a"), vec![2, 3]);
        assert_eq!(logged(&e, "/?a=x&b=ARGS:b"), Vec::<u32>::new());
    }

    /// TX keys are case-insensitive, render as last written, enumerate in lower-cased order,
    /// and `setvar` arithmetic, deletion and counts work on them.
    #[test]
    fn tx_collection_semantics() {
        let e = engine(
            "SecRuleEngine On\n\
             SecAction \"id:1,phase:1,pass,nolog,setvar:tx.Score=2,setvar:tx.score=+3,\
                 setvar:tx.b_x=1,setvar:tx.A_x=1,setvar:tx.gone=1,setvar:!tx.GONE\"\n\
             SecRule TX:SCORE \"@eq 5\" \"id:2,phase:1,pass,log\"\n\
             SecRule &TX:gone \"@eq 0\" \"id:3,phase:1,pass,log\"\n\
             SecRule TX:/_x$/ \"@rx 1\" \"id:4,phase:1,pass,log,setvar:tx.first=%{MATCHED_VAR_NAME}\"\n\
             SecRule TX:first \"@streq TX:b_x\" \"id:5,phase:1,pass,log\"\n",
        );
        // id:4 matches A_x then b_x (lower-cased order), so the last setvar names b_x.
        assert_eq!(logged(&e, "/"), vec![2, 3, 4, 5]);
    }

    #[test]
    fn reset_forgets_everything_keeps_small_buffers_and_releases_huge_ones() {
        let mut tx = Transaction::new();
        tx.body = vec![b'x'; MAX_KEPT_BUFFER + 1];
        tx.method = b"GET".to_vec();
        tx.tx.set(b"a", b"1");
        tx.headers = vec![(b"h".to_vec(), b"v".to_vec())];
        tx.matched_var_name.push_str("ARGS:a");
        tx.disruption = Some(Disruption {
            action: DisruptiveAction::Deny,
            status: 403,
            rule_id: 1,
            redirect_url: String::new(),
            phase: 1,
        });
        tx.reset();
        assert!(tx.body.is_empty() && tx.body.capacity() <= MAX_KEPT_BUFFER);
        assert!(tx.method.is_empty() && tx.method.capacity() >= 3);
        assert_eq!(tx.tx.get(b"a"), None);
        assert!(tx.headers.is_empty() && tx.matched_var_name.is_empty());
        assert!(tx.disruption.is_none());
        // The header pair is kept for the next request's headers.
        assert!(tx.pools.headers.take().0.capacity() >= 1);
    }

    #[test]
    fn word_boundaries() {
        assert!(contains_word(b"select * from", b"from"));
        assert!(!contains_word(b"fromage", b"from"));
    }
}
