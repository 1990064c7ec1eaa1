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

use std::collections::BTreeMap;

use crate::compile::{
    AllowScope, BodyProcessor, Ctl, Disruptive, EngineMode, KeySel, Macro, MacroPart, Op, Rule,
    RuleSet, SetOp, Step, Target, Var,
};
use crate::inspect::{Disruption, DisruptiveAction, Verdict};
use leaf::body::multipart::Flags;
pub(crate) use scan::ScanCache;

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

/// A `ctl:ruleRemoveTarget*` exclusion active for this transaction.
#[derive(Debug, Clone)]
enum TargetRemoval {
    Id(Vec<(u32, u32)>, Target),
    Tag(String, Target),
    Msg(String, Target),
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
    tx: BTreeMap<String, (String, Vec<u8>)>,
    other_colls: BTreeMap<String, (String, Vec<u8>)>,
    matched_var: Vec<u8>,
    matched_var_name: String,
    matched_vars: Vec<Value>,
    highest_severity: Option<u8>,
    // --- ctl state ---
    engine: Option<EngineMode>,
    removed_ids: Vec<(u32, u32)>,
    removed_tags: Vec<String>,
    removed_msgs: Vec<String>,
    removed_targets: Vec<TargetRemoval>,
    pub(crate) forced_processor: Option<BodyProcessor>,
    pub(crate) force_body_var: bool,
    pub(crate) body_access: Option<bool>,
    pub(crate) response_body_access: Option<bool>,
    allow: Option<AllowScope>,
    // --- results ---
    disruption: Option<Disruption>,
    logged: Vec<u32>,
    log_lines: Vec<String>,
    // --- scratch ---
    buf_a: Vec<u8>,
    buf_b: Vec<u8>,
    /// Per-transaction transform+scan results and the shard's Hyperscan scratch (lent by the
    /// engine): each value is transformed and scanned once per group per transaction.
    pub(crate) scan: scan::ScanCache,
    /// While set, rules run for their side effects only (no log line, no disruption).
    pub(crate) quiet: bool,
    /// Spare collection pairs, refilled by [`Transaction::reset`].
    pub(crate) pool: crate::body::PairPool,
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
            scan,
            quiet,
            pool,
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
        ] {
            b.clear();
        }
        for list in [
            headers,
            cookies,
            args_get,
            args_post,
            part_headers,
            response_headers,
        ] {
            pool.recycle(list);
        }
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
        matched_vars.clear();
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
            if self.is_removed(rule) {
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
                for c in &link.ctls {
                    self.apply_ctl(c);
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

    fn is_removed(&self, rule: &Rule) -> bool {
        self.removed_ids
            .iter()
            .any(|&(a, b)| rule.id >= a && rule.id <= b)
            || (!self.removed_tags.is_empty()
                && rule
                    .tags
                    .iter()
                    .any(|t| self.removed_tags.iter().any(|r| r == t)))
            || (!self.removed_msgs.is_empty()
                && rule
                    .msg
                    .as_ref()
                    .is_some_and(|m| self.removed_msgs.contains(&m.text)))
    }

    fn apply_ctl(&mut self, c: &Ctl) {
        match c {
            Ctl::RuleEngine(m) => self.engine = Some(*m),
            Ctl::RuleRemoveById(r) => self.removed_ids.extend(r.iter().copied()),
            Ctl::RuleRemoveByTag(t) => self.removed_tags.push(t.clone()),
            Ctl::RuleRemoveByMsg(t) => self.removed_msgs.push(t.clone()),
            Ctl::RuleRemoveTargetById(r, t) => self
                .removed_targets
                .push(TargetRemoval::Id(r.clone(), t.clone())),
            Ctl::RuleRemoveTargetByTag(tag, t) => self
                .removed_targets
                .push(TargetRemoval::Tag(tag.clone(), t.clone())),
            Ctl::RuleRemoveTargetByMsg(m, t) => self
                .removed_targets
                .push(TargetRemoval::Msg(m.clone(), t.clone())),
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
        } else if self.cannot_match(rs, rule) {
            // No value's cached scan matches: skip without copying or naming any value.
            return RuleMatch { matched: false };
        } else {
            let mut values = Vec::new();
            let starter = &rs.rules[starter_idx];
            for t in &rule.targets {
                self.collect(t, &mut values);
            }
            values.retain(|v| !self.excluded(rule, starter, starter_id, v));
            let mut hits = Vec::new();
            for v in values {
                hits.clear();
                self.match_value(rs, rule, &v, &mut hits);
                for h in hits.drain(..) {
                    matched = true;
                    self.matched_var.clone_from(&h);
                    self.matched_var_name = v.name.render();
                    self.matched_vars.push(Value {
                        name: v.name.clone(),
                        data: h,
                        origin: 0,
                    });
                    self.run_setvars(rule);
                }
            }
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

    /// Whether value `v` of `rule` is excluded by a `!` target or a `ctl:ruleRemoveTarget*`.
    fn excluded(&self, rule: &Rule, starter: &Rule, id: u32, v: &Value) -> bool {
        if rule.exclusions.iter().any(|t| target_covers(t, &v.name)) {
            return true;
        }
        // ctl target removals apply to the whole chain; tags and msg live on the starter.
        self.removed_targets.iter().any(|r| match r {
            TargetRemoval::Id(ranges, t) => {
                ranges.iter().any(|&(a, b)| id >= a && id <= b) && target_covers(t, &v.name)
            }
            TargetRemoval::Tag(tag, t) => {
                starter.tags.iter().any(|x| x == tag) && target_covers(t, &v.name)
            }
            TargetRemoval::Msg(msg, t) => {
                starter.msg.as_ref().is_some_and(|m| m.text == *msg) && target_covers(t, &v.name)
            }
        })
    }

    /// Runs the transformations and the operator on one value and pushes every matching
    /// transformed value to `hits` (one per matching stage with multiMatch). MATCHED_VAR is the
    /// transformed value, as in libmodsecurity3.
    fn match_value(&mut self, rs: &RuleSet, rule: &Rule, v: &Value, hits: &mut Vec<Vec<u8>>) {
        if let Some((g, pid)) = rule.prefilter {
            let i = self.scan.lookup_at(rs, g, &v.data, v.origin);
            let hit = self.scan.hit(i, pid);
            if hit && rule.capture {
                match &rule.op {
                    Op::Rx(_) => {
                        let mut caps = [None; 10];
                        if self.scan.captures(rs, g, pid, i, &mut caps) {
                            let input = self.scan.transformed(i).to_vec();
                            self.set_captures(&input, &caps);
                        }
                    }
                    _ => {
                        let input = self.scan.transformed(i).to_vec();
                        self.op_matches(rule, &input);
                    }
                }
            }
            if hit != rule.negated {
                hits.push(self.scan.transformed(i).to_vec());
            }
            return;
        }
        if rule.multi_match {
            if self.run_op(rule, &v.data) {
                hits.push(v.data.clone());
            }
            let mut cur = v.data.clone();
            for t in &rule.transforms {
                let mut out = Vec::new();
                if t.apply(&cur, &mut out) {
                    if self.run_op(rule, &out) {
                        hits.push(out.clone());
                    }
                    cur = out;
                }
            }
            return;
        }
        if rule.transforms.is_empty() {
            if self.run_op(rule, &v.data) {
                hits.push(v.data.clone());
            }
            return;
        }
        let mut a = std::mem::take(&mut self.buf_a);
        let mut b = std::mem::take(&mut self.buf_b);
        a.clear();
        a.extend_from_slice(&v.data);
        for t in &rule.transforms {
            t.apply(&a, &mut b);
            std::mem::swap(&mut a, &mut b);
        }
        if self.run_op(rule, &a) {
            hits.push(a.clone());
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
                let lower = input.to_ascii_lowercase();
                let hit = phrases
                    .iter()
                    .find(|p| !p.is_empty() && contains(&lower, p));
                if let (Some(p), true) = (hit, rule.capture) {
                    self.set_tx("0", p.clone());
                }
                hit.is_some()
            }
            Op::Streq(a) => self.expand(a) == input,
            Op::Contains(a) => contains(input, &self.expand(a)),
            Op::ContainsWord(a) => contains_word(input, &self.expand(a)),
            Op::BeginsWith(a) => input.starts_with(&self.expand(a)),
            Op::EndsWith(a) => input.ends_with(&self.expand(a)),
            Op::Within(a) => ops::within::within(input, &self.expand(a)),
            Op::StrMatch(a) => contains(input, &self.expand(a)),
            Op::Eq(a) => ops::compare::eq(input, &self.expand(a)),
            Op::Ge(a) => ops::compare::ge(input, &self.expand(a)),
            Op::Gt(a) => ops::compare::gt(input, &self.expand(a)),
            Op::Le(a) => ops::compare::le(input, &self.expand(a)),
            Op::Lt(a) => ops::compare::lt(input, &self.expand(a)),
            Op::ValidateByteRange(r) => r.violates(input),
            Op::ValidateUrlEncoding => ops::validate::url_encoding_invalid(input),
            Op::ValidateUtf8Encoding => ops::validate::utf8_encoding_invalid(input),
            Op::IpMatch(m) => m.matches(input),
            Op::DetectSqli => match ops::libinjection::detect_sqli(input) {
                Some(fp) => {
                    if rule.capture {
                        self.set_tx("0", fp.into_bytes());
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
                let v = input.get(s..e).unwrap_or_default().to_vec();
                self.set_tx(DIGITS[i], v);
            }
        }
    }

    fn set_tx(&mut self, key: &str, value: Vec<u8>) {
        self.tx
            .insert(key.to_ascii_lowercase(), (key.to_string(), value));
    }

    fn run_setvars(&mut self, rule: &Rule) {
        for sv in &rule.setvars {
            let key_raw = String::from_utf8_lossy(&self.expand(&sv.key)).into_owned();
            let key = key_raw.to_ascii_lowercase();
            let coll_prefix = if sv.coll == Var::Tx {
                String::new()
            } else {
                format!("{}.", sv.coll.name())
            };
            let full = format!("{coll_prefix}{key}");
            let map = if sv.coll == Var::Tx {
                &mut self.tx
            } else {
                &mut self.other_colls
            };
            match &sv.op {
                SetOp::Delete => {
                    map.remove(&full);
                }
                SetOp::Set(_) | SetOp::Add(_) | SetOp::Sub(_) => {
                    let m = match &sv.op {
                        SetOp::Set(m) | SetOp::Add(m) | SetOp::Sub(m) => m,
                        SetOp::Delete => unreachable!("handled above"),
                    };
                    let val = self.expand(m);
                    let map = if sv.coll == Var::Tx {
                        &mut self.tx
                    } else {
                        &mut self.other_colls
                    };
                    let new = match &sv.op {
                        SetOp::Set(_) => val,
                        SetOp::Add(_) | SetOp::Sub(_) => {
                            let cur = map.get(&full).map(|(_, v)| to_int(v)).unwrap_or(0);
                            let d = to_int(&val);
                            let n = if matches!(sv.op, SetOp::Add(_)) {
                                cur.saturating_add(d)
                            } else {
                                cur.saturating_sub(d)
                            };
                            n.to_string().into_bytes()
                        }
                        SetOp::Delete => unreachable!("handled above"),
                    };
                    map.insert(full, (key_raw, new));
                }
            }
        }
    }

    /// Expands `%{…}` macros.
    pub(crate) fn expand(&self, m: &Macro) -> Vec<u8> {
        if let Some(c) = m.constant() {
            return c.to_vec();
        }
        let mut out = Vec::new();
        for p in &m.parts {
            match p {
                MacroPart::Lit(l) => out.extend_from_slice(l),
                MacroPart::Ref(var, key) => {
                    let t = Target {
                        var: *var,
                        key: match key {
                            Some(k) => KeySel::Name(k.to_ascii_lowercase()),
                            None => KeySel::All,
                        },
                        count: false,
                    };
                    let mut vals = Vec::new();
                    self.collect(&t, &mut vals);
                    if let Some(v) = vals.into_iter().next() {
                        out.extend_from_slice(&v.data);
                    }
                }
            }
        }
        out
    }

    /// Appends the values `t` selects.
    pub(crate) fn collect(&self, t: &Target, out: &mut Vec<Value>) {
        let start = out.len();
        self.collect_values(t, out);
        if t.count {
            let n = out.len() - start;
            out.truncate(start);
            out.push(Value {
                name: Name::Text(format!("&{}", t.var.name())),
                data: n.to_string().into_bytes(),
                origin: 0,
            });
        }
    }

    fn collect_values(&self, t: &Target, out: &mut Vec<Value>) {
        let var = t.var;
        let pairs = |list: &[Pair], src: u32, out: &mut Vec<Value>| {
            for (i, (k, v)) in list.iter().enumerate() {
                if key_selected(&t.key, k) {
                    out.push(Value {
                        name: Name::Keyed(var, k.clone()),
                        data: v.clone(),
                        origin: origin(src, i),
                    });
                }
            }
        };
        let names = |list: &[Pair], src: u32, out: &mut Vec<Value>| {
            for (i, (k, _)) in list.iter().enumerate() {
                if key_selected(&t.key, k) {
                    out.push(Value {
                        name: Name::Keyed(var, k.clone()),
                        data: k.clone(),
                        origin: origin(src + 1, i),
                    });
                }
            }
        };
        let scalar = |v: &[u8], out: &mut Vec<Value>| {
            out.push(Value {
                name: Name::Var(var),
                data: v.to_vec(),
                // Scalars cached by content: several are recomputed between phases.
                origin: 0,
            })
        };
        let flag = |b: bool, out: &mut Vec<Value>| {
            out.push(Value {
                name: Name::Var(var),
                data: if b { b"1".to_vec() } else { b"0".to_vec() },
                origin: 0,
            })
        };
        let mp = self.multipart.as_ref();
        match var {
            Var::Args => {
                pairs(&self.args_get, 2, out);
                pairs(&self.args_post, 4, out);
            }
            Var::ArgsGet => pairs(&self.args_get, 2, out),
            Var::ArgsPost => pairs(&self.args_post, 4, out),
            Var::ArgsNames => {
                names(&self.args_get, 2, out);
                names(&self.args_post, 4, out);
            }
            Var::ArgsGetNames => names(&self.args_get, 2, out),
            Var::ArgsPostNames => names(&self.args_post, 4, out),
            Var::ArgsCombinedSize => {
                let n: usize = self
                    .args_get
                    .iter()
                    .chain(&self.args_post)
                    .map(|(k, v)| k.len() + v.len())
                    .sum();
                scalar(n.to_string().as_bytes(), out)
            }
            Var::RequestHeaders => pairs(&self.headers, 6, out),
            Var::RequestHeadersNames => names(&self.headers, 6, out),
            Var::RequestCookies => pairs(&self.cookies, 8, out),
            Var::RequestCookiesNames => names(&self.cookies, 8, out),
            Var::RequestFilename => scalar(&self.filename, out),
            Var::RequestBasename => scalar(&self.basename, out),
            Var::RequestUri => scalar(&self.uri_decoded, out),
            Var::RequestUriRaw => scalar(&self.uri_raw, out),
            Var::RequestLine => scalar(&self.request_line, out),
            Var::RequestMethod => scalar(&self.method, out),
            Var::RequestProtocol => scalar(&self.protocol, out),
            Var::QueryString => scalar(&self.query, out),
            Var::RequestBody => {
                if self.expose_body {
                    scalar(&self.body, out)
                }
            }
            Var::RequestBodyLength => scalar(self.body_len.to_string().as_bytes(), out),
            // Always present (empty without a processor): CRS 901340 tests it with a negated
            // operator, which must see an empty value to match.
            Var::ReqbodyProcessor => {
                scalar(self.processor.map_or("", |p| p.name()).as_bytes(), out)
            }
            Var::ReqbodyError | Var::ReqbodyProcessorError => flag(self.reqbody_error, out),
            Var::ReqbodyErrorMsg => scalar(&self.reqbody_error_msg, out),
            Var::Files => {
                for (field, filename, _) in &self.files {
                    if key_selected(&t.key, field) {
                        out.push(Value {
                            name: Name::Keyed(Var::Files, field.clone()),
                            data: filename.clone(),
                            origin: 0,
                        });
                    }
                }
            }
            Var::FilesNames => {
                for (field, _, _) in &self.files {
                    if key_selected(&t.key, field) {
                        out.push(Value {
                            name: Name::Keyed(Var::FilesNames, field.clone()),
                            data: field.clone(),
                            origin: 0,
                        });
                    }
                }
            }
            Var::FilesSizes => {
                for (field, _, size) in &self.files {
                    if key_selected(&t.key, field) {
                        out.push(Value {
                            name: Name::Keyed(Var::FilesSizes, field.clone()),
                            data: size.to_string().into_bytes(),
                            origin: 0,
                        });
                    }
                }
            }
            Var::FilesCombinedSize => {
                let n: usize = self.files.iter().map(|f| f.2).sum();
                scalar(n.to_string().as_bytes(), out)
            }
            Var::FilesTmpNames => {}
            Var::MultipartStrictError => {
                if let Some(f) = mp {
                    flag(f.strict_error, out)
                }
            }
            Var::MultipartUnmatchedBoundary => {
                if let Some(f) = mp {
                    flag(f.unmatched_boundary, out)
                }
            }
            Var::MultipartBoundaryQuoted => flag(mp.is_some_and(|f| f.boundary_quoted), out),
            Var::MultipartBoundaryWhitespace => {
                flag(mp.is_some_and(|f| f.boundary_whitespace), out)
            }
            Var::MultipartDataBefore => flag(mp.is_some_and(|f| f.data_before), out),
            Var::MultipartDataAfter => flag(mp.is_some_and(|f| f.data_after), out),
            Var::MultipartHeaderFolding => flag(mp.is_some_and(|f| f.header_folding), out),
            Var::MultipartLfLine => flag(mp.is_some_and(|f| f.lf_line), out),
            Var::MultipartCrlfLfLines => flag(mp.is_some_and(|f| f.crlf_lf_lines()), out),
            Var::MultipartMissingSemicolon => flag(mp.is_some_and(|f| f.missing_semicolon), out),
            Var::MultipartInvalidQuoting => flag(mp.is_some_and(|f| f.invalid_quoting), out),
            Var::MultipartInvalidPart => flag(mp.is_some_and(|f| f.invalid_part), out),
            Var::MultipartInvalidHeaderFolding => {
                flag(mp.is_some_and(|f| f.invalid_header_folding), out)
            }
            Var::MultipartFileLimitExceeded => flag(mp.is_some_and(|f| f.file_limit_exceeded), out),
            Var::MultipartPartHeaders => pairs(&self.part_headers, 10, out),
            Var::MultipartFilename | Var::MultipartName => {}
            Var::Xml => {
                let attrs = matches!(&t.key, KeySel::Name(k) if k.contains('@'));
                let list = if attrs {
                    &self.xml_attrs
                } else {
                    &self.xml_text
                };
                for v in list {
                    out.push(Value {
                        name: Name::Var(Var::Xml),
                        data: v.clone(),
                        origin: 0,
                    });
                }
            }
            Var::Tx => {
                // Keys are stored lower-cased: a named key is one map lookup.
                if let KeySel::Name(n) = &t.key {
                    if let Some((orig, v)) = self.tx.get(n.as_str()) {
                        out.push(Value {
                            name: Name::Keyed(Var::Tx, orig.as_bytes().to_vec()),
                            data: v.clone(),
                            origin: 0,
                        });
                    }
                    return;
                }
                for (k, (orig, v)) in &self.tx {
                    if key_selected(&t.key, k.as_bytes()) {
                        out.push(Value {
                            name: Name::Keyed(Var::Tx, orig.as_bytes().to_vec()),
                            data: v.clone(),
                            origin: 0,
                        });
                    }
                }
            }
            Var::Ip | Var::Global | Var::Session | Var::User | Var::Resource => {
                let prefix = format!("{}.", var.name());
                for (k, (orig, v)) in self.other_colls.range(prefix.clone()..) {
                    let Some(sub) = k.strip_prefix(&prefix) else {
                        break;
                    };
                    if key_selected(&t.key, sub.as_bytes()) {
                        out.push(Value {
                            name: Name::Keyed(var, orig.as_bytes().to_vec()),
                            data: v.clone(),
                            origin: 0,
                        });
                    }
                }
            }
            Var::Geo | Var::Env => {}
            Var::RemoteAddr => scalar(&self.remote_addr, out),
            Var::RemotePort => scalar(self.remote_port.to_string().as_bytes(), out),
            Var::RemoteHost => scalar(&self.remote_addr, out),
            Var::RemoteUser | Var::AuthType => {}
            Var::ServerAddr => scalar(&self.server_addr, out),
            Var::ServerPort => scalar(self.server_port.to_string().as_bytes(), out),
            Var::ServerName => scalar(&self.hostname, out),
            Var::UniqueId => scalar(&self.unique_id, out),
            Var::Duration => scalar(b"0", out),
            Var::Time
            | Var::TimeDay
            | Var::TimeEpoch
            | Var::TimeHour
            | Var::TimeMin
            | Var::TimeMon
            | Var::TimeSec
            | Var::TimeWday
            | Var::TimeYear => scalar(time_value(var).as_bytes(), out),
            Var::ResponseStatus => {
                if let Some(s) = self.response_status {
                    scalar(s.to_string().as_bytes(), out)
                }
            }
            Var::ResponseHeaders => pairs(&self.response_headers, 12, out),
            Var::ResponseHeadersNames => names(&self.response_headers, 12, out),
            Var::ResponseBody => {
                if self.expose_response_body {
                    scalar(&self.response_body, out)
                }
            }
            Var::ResponseProtocol => scalar(&self.response_protocol, out),
            Var::ResponseContentType => {
                if let Some((_, v)) = self
                    .response_headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(b"content-type"))
                {
                    scalar(v, out)
                }
            }
            Var::ResponseContentLength => {
                if let Some((_, v)) = self
                    .response_headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(b"content-length"))
                {
                    scalar(v, out)
                }
            }
            Var::MatchedVar => scalar(&self.matched_var, out),
            Var::MatchedVarName => scalar(self.matched_var_name.as_bytes(), out),
            Var::MatchedVars => {
                for v in &self.matched_vars {
                    if key_selected(&t.key, v.name.render().as_bytes()) {
                        out.push(Value {
                            name: v.name.clone(),
                            data: v.data.clone(),
                            origin: 0,
                        });
                    }
                }
            }
            Var::MatchedVarsNames => {
                for v in &self.matched_vars {
                    let n = v.name.render();
                    if key_selected(&t.key, n.as_bytes()) {
                        out.push(Value {
                            name: v.name.clone(),
                            data: n.into_bytes(),
                            origin: 0,
                        });
                    }
                }
            }
            Var::Rule => {}
            Var::FullRequest | Var::FullRequestLength => {}
            Var::InboundDataError | Var::OutboundDataError | Var::UrlencodedError => {
                flag(false, out)
            }
            Var::HighestSeverity => {
                if let Some(s) = self.highest_severity {
                    scalar(s.to_string().as_bytes(), out)
                }
            }
            Var::StatusLine | Var::WebserverErrorLog => {}
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
        self.tx
            .get(&key.to_ascii_lowercase())
            .map(|(_, v)| to_int(v))
    }

    /// Ids of logged rules in order (duplicates kept).
    pub fn logged_ids(&self) -> &[u32] {
        &self.logged
    }

    /// The interruption, if any.
    pub fn disruption(&self) -> Option<&Disruption> {
        self.disruption.as_ref()
    }
}

/// `Value::origin` for element `i` of stable source `src` (0 when it does not fit).
fn origin(src: u32, i: usize) -> u32 {
    match u32::try_from(i) {
        Ok(i) if i < (1 << 24) - 1 => (src << 24) | (i + 1),
        _ => 0,
    }
}

const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Whether target `t` covers the value named `name` (for `!` exclusions and ctl removals).
fn target_covers(t: &Target, name: &Name) -> bool {
    match name {
        Name::Var(v) => t.var == *v && matches!(t.key, KeySel::All),
        Name::Keyed(v, k) => t.var == *v && key_selected(&t.key, k),
        Name::Text(s) => {
            let (var, key) = match s.split_once(':') {
                Some((v, k)) => (v, Some(k)),
                None => (s.as_str(), None),
            };
            if !t.var.name().eq_ignore_ascii_case(var) {
                return false;
            }
            match (&t.key, key) {
                (KeySel::All, _) => true,
                (_, None) => false,
                (k, Some(key)) => key_selected(k, key.as_bytes()),
            }
        }
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

fn time_value(v: Var) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let day_secs = secs % 86_400;
    match v {
        Var::TimeEpoch => secs.to_string(),
        Var::TimeHour => format!("{:02}", day_secs / 3600),
        Var::TimeMin => format!("{:02}", (day_secs % 3600) / 60),
        Var::TimeSec => format!("{:02}", day_secs % 60),
        Var::TimeWday => ((secs / 86_400 + 4) % 7).to_string(),
        _ => secs.to_string(),
    }
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

    #[test]
    fn word_boundaries() {
        assert!(contains_word(b"select * from", b"from"));
        assert!(!contains_word(b"fromage", b"from"));
    }
}
