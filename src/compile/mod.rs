//! Lowers the SecLang AST into an immutable, shareable [`RuleSet`].
//!
//! Owns: per-phase rule programs (markers included so `skipAfter` can find them), chains,
//! `SecDefaultAction` inheritance per phase (`t:none` discards inherited transformations),
//! `SecRuleRemove*` / `SecRuleUpdateTarget*` / `SecRuleUpdateActionById`, `@pmFromFile` data
//! files (relative to the rule file), operator and macro compilation, engine settings.
//! Refuses: unknown variables, operators, actions and transformations (a [`CompileError`] that
//! names the rule id, file:line and what is wrong). Evaluation is `eval`'s; this module never
//! looks at a request.

pub mod variable;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::eval::leaf::matcher::{LiteralKind, PatternId, PatternSet, PatternSetBuilder, Regex};
use crate::eval::leaf::ops::{byte_range::ByteRanges, ip_match::IpMatcher};
use crate::eval::leaf::transform::Transformation;
use crate::seclang::{self, Action, Directive, Key, RuleAst, Span, VarSel};

pub use variable::Var;

/// Why a configuration could not be compiled.
#[derive(Debug, Clone)]
pub struct CompileError {
    /// Rule id, when the error belongs to a rule.
    pub rule_id: Option<u32>,
    /// Where the directive was written.
    pub span: Option<Span>,
    /// What is wrong (the pattern is quoted when a pattern failed).
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.span {
            write!(f, "{s}: ")?;
        }
        if let Some(id) = self.rule_id {
            write!(f, "rule {id}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for CompileError {}

/// `SecRuleEngine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineMode {
    /// Evaluate and enforce.
    On,
    /// Do not evaluate.
    Off,
    /// Evaluate and log, never disrupt.
    DetectionOnly,
}

/// A request body processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyProcessor {
    /// `application/x-www-form-urlencoded`.
    UrlEncoded,
    /// `multipart/form-data`.
    Multipart,
    /// JSON.
    Json,
    /// XML.
    Xml,
}

impl BodyProcessor {
    /// The name `REQBODY_PROCESSOR` shows.
    pub fn name(self) -> &'static str {
        match self {
            BodyProcessor::UrlEncoded => "URLENCODED",
            BodyProcessor::Multipart => "MULTIPART",
            BodyProcessor::Json => "JSON",
            BodyProcessor::Xml => "XML",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "URLENCODED" => Some(BodyProcessor::UrlEncoded),
            "MULTIPART" => Some(BodyProcessor::Multipart),
            "JSON" => Some(BodyProcessor::Json),
            "XML" => Some(BodyProcessor::Xml),
            _ => None,
        }
    }
}

/// Engine-wide settings from configuration directives.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `SecRuleEngine`.
    pub engine: EngineMode,
    /// `SecRequestBodyAccess`.
    pub request_body_access: bool,
    /// `SecResponseBodyAccess`.
    pub response_body_access: bool,
    /// `SecRequestBodyLimit`.
    pub request_body_limit: usize,
    /// `SecRequestBodyNoFilesLimit`.
    pub request_body_no_files_limit: usize,
    /// `SecRequestBodyLimitAction Reject` (else ProcessPartial).
    pub request_body_limit_reject: bool,
    /// `SecResponseBodyMimeType` list.
    pub response_mime_types: Vec<String>,
    /// `SecResponseBodyLimit`.
    pub response_body_limit: usize,
    /// `SecResponseBodyLimitAction Reject`.
    pub response_body_limit_reject: bool,
    /// `SecArgumentsLimit`.
    pub arguments_limit: usize,
    /// `SecRequestBodyJsonDepthLimit`.
    pub json_depth_limit: usize,
    /// `SecArgumentSeparator`.
    pub argument_separator: u8,
}

impl Default for Settings {
    fn default() -> Self {
        // libmodsecurity3's built-in defaults.
        Settings {
            engine: EngineMode::Off,
            request_body_access: false,
            response_body_access: false,
            request_body_limit: 134_217_728,
            request_body_no_files_limit: 1_048_576,
            request_body_limit_reject: true,
            response_mime_types: vec!["text/plain".into(), "text/html".into()],
            response_body_limit: 524_288,
            response_body_limit_reject: true,
            arguments_limit: 1000,
            json_depth_limit: 10000,
            argument_separator: b'&',
        }
    }
}

/// Part of a macro string: literal text or a `%{VAR.key}` reference.
#[derive(Debug, Clone)]
pub enum MacroPart {
    /// Literal bytes.
    Lit(Vec<u8>),
    /// `%{VAR}` or `%{VAR.key}` (key lower-cased when the collection is case-insensitive).
    Ref(Var, Option<String>),
}

/// A string that may contain `%{…}` macros.
#[derive(Debug, Clone)]
pub struct Macro {
    /// The parts in order.
    pub parts: Vec<MacroPart>,
    /// The text as written.
    pub text: String,
}

impl Macro {
    /// Parses `text`; unknown variables in `%{…}` are kept literally.
    pub fn parse(text: &str) -> Macro {
        let mut parts = Vec::new();
        let mut lit = Vec::new();
        let mut rest = text;
        while let Some(p) = rest.find("%{") {
            let Some(end) = rest[p..].find('}') else {
                break;
            };
            let inner = &rest[p + 2..p + end];
            let (name, key) = match inner.split_once(['.', ':']) {
                Some((n, k)) => (n, Some(k)),
                None => (inner, None),
            };
            lit.extend_from_slice(&rest.as_bytes()[..p]);
            match Var::from_name(name) {
                Some(v) => {
                    if !lit.is_empty() {
                        parts.push(MacroPart::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(MacroPart::Ref(v, key.map(str::to_string)));
                }
                None => lit.extend_from_slice(&rest.as_bytes()[p..p + end + 1]),
            }
            rest = &rest[p + end + 1..];
        }
        lit.extend_from_slice(rest.as_bytes());
        if !lit.is_empty() {
            parts.push(MacroPart::Lit(lit));
        }
        Macro {
            parts,
            text: text.to_string(),
        }
    }

    /// The constant value when the string has no macro.
    pub fn constant(&self) -> Option<&[u8]> {
        match self.parts.as_slice() {
            [] => Some(b""),
            [MacroPart::Lit(l)] => Some(l),
            _ => None,
        }
    }
}

/// A key selector on a target.
#[derive(Debug, Clone)]
pub enum KeySel {
    /// Every value.
    All,
    /// Exact key, compared case-insensitively (lower-cased here).
    Name(String),
    /// Regex on the key.
    Regex(Arc<Regex>, String),
}

/// One target of a rule (`ARGS:foo`, `&TX:x`, `!ARGS:bar` as an exclusion).
#[derive(Debug, Clone)]
pub struct Target {
    /// Variable.
    pub var: Var,
    /// Key selector.
    pub key: KeySel,
    /// `&`: the count of values.
    pub count: bool,
}

/// An operator argument: constant or macro.
pub type Arg = Macro;

/// A compiled operator.
#[derive(Debug)]
pub enum Op {
    /// `@rx` with a constant pattern.
    Rx(Regex),
    /// `@rx` whose pattern holds macros: compiled per evaluation.
    RxMacro(Macro),
    /// `@pm`/`@pmFromFile`: lower-cased phrases, case-insensitive substring.
    Pm(Vec<Vec<u8>>),
    /// `@streq`.
    Streq(Arg),
    /// `@contains`.
    Contains(Arg),
    /// `@containsWord`.
    ContainsWord(Arg),
    /// `@beginsWith`.
    BeginsWith(Arg),
    /// `@endsWith`.
    EndsWith(Arg),
    /// `@within`.
    Within(Arg),
    /// `@strmatch`.
    StrMatch(Arg),
    /// `@eq`.
    Eq(Arg),
    /// `@ge`.
    Ge(Arg),
    /// `@gt`.
    Gt(Arg),
    /// `@le`.
    Le(Arg),
    /// `@lt`.
    Lt(Arg),
    /// `@validateByteRange`.
    ValidateByteRange(Box<ByteRanges>),
    /// `@validateUrlEncoding`.
    ValidateUrlEncoding,
    /// `@validateUtf8Encoding`.
    ValidateUtf8Encoding,
    /// `@ipMatch`.
    IpMatch(IpMatcher),
    /// `@detectSQLi`.
    DetectSqli,
    /// `@detectXSS`.
    DetectXss,
    /// `@unconditionalMatch` (and `SecAction`).
    Unconditional,
    /// `@noMatch`, `@geoLookup`, `@rbl` and other inert operators.
    NoMatch,
}

/// A disruptive action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disruptive {
    /// `pass`.
    Pass,
    /// `deny`.
    Deny,
    /// `drop`.
    Drop,
    /// `block`: whatever `SecDefaultAction` of the phase says.
    Block,
    /// `redirect:url`.
    Redirect(String),
    /// `allow` (`None`), `allow:phase`, `allow:request`.
    Allow(AllowScope),
}

/// Scope of `allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowScope {
    /// Everything remaining.
    All,
    /// The current phase.
    Phase,
    /// The remaining request phases.
    Request,
}

/// `setvar` operation.
#[derive(Debug, Clone)]
pub enum SetOp {
    /// `=value`.
    Set(Macro),
    /// `=+value`.
    Add(Macro),
    /// `=-value`.
    Sub(Macro),
    /// `!key`.
    Delete,
}

/// One `setvar`.
#[derive(Debug, Clone)]
pub struct SetVar {
    /// Collection written.
    pub coll: Var,
    /// Key (macros allowed).
    pub key: Macro,
    /// Operation.
    pub op: SetOp,
}

/// One `ctl:` sub-action.
#[derive(Debug, Clone)]
pub enum Ctl {
    /// `ruleEngine=`.
    RuleEngine(EngineMode),
    /// `ruleRemoveById=` (ranges).
    RuleRemoveById(Vec<(u32, u32)>),
    /// `ruleRemoveByTag=`.
    RuleRemoveByTag(String),
    /// `ruleRemoveByMsg=`.
    RuleRemoveByMsg(String),
    /// `ruleRemoveTargetById=id;TARGET`.
    RuleRemoveTargetById(Vec<(u32, u32)>, Target),
    /// `ruleRemoveTargetByTag=tag;TARGET`.
    RuleRemoveTargetByTag(String, Target),
    /// `ruleRemoveTargetByMsg=msg;TARGET`.
    RuleRemoveTargetByMsg(String, Target),
    /// `requestBodyProcessor=`.
    RequestBodyProcessor(BodyProcessor),
    /// `forceRequestBodyVariable=On|Off`.
    ForceRequestBodyVariable(bool),
    /// `requestBodyAccess=On|Off`.
    RequestBodyAccess(bool),
    /// `responseBodyAccess=On|Off`.
    ResponseBodyAccess(bool),
    /// Accepted, no effect here (`auditEngine`, `auditLogParts`, …).
    Ignored,
}

/// A compiled rule (chain starter or chain link).
#[derive(Debug)]
pub struct Rule {
    /// `id` (the starter's id for chain links).
    pub id: u32,
    /// Phase 1–5.
    pub phase: u8,
    /// Where it was written.
    pub span: Span,
    /// Targets (empty for `SecAction`).
    pub targets: Vec<Target>,
    /// `!` exclusions.
    pub exclusions: Vec<Target>,
    /// Operator.
    pub op: Op,
    /// `!@op`.
    pub negated: bool,
    /// Operator name as written (for log lines).
    pub op_name: String,
    /// Operator argument as written (for log lines).
    pub op_arg: String,
    /// Transformations, inherited ones included.
    pub transforms: Vec<Transformation>,
    /// `msg`.
    pub msg: Option<Macro>,
    /// `logdata`.
    pub logdata: Option<Macro>,
    /// `tag`s.
    pub tags: Vec<String>,
    /// `severity` 0–7.
    pub severity: Option<u8>,
    /// `ver`.
    pub ver: Option<String>,
    /// `rev`.
    pub rev: Option<String>,
    /// `maturity`.
    pub maturity: Option<String>,
    /// `accuracy`.
    pub accuracy: Option<String>,
    /// Whether a match writes a log line (`log`/`nolog`, inherited).
    pub log: bool,
    /// `capture`.
    pub capture: bool,
    /// `multiMatch`.
    pub multi_match: bool,
    /// Disruptive action.
    pub disruptive: Disruptive,
    /// `status:`.
    pub status: Option<u16>,
    /// `skip:N`.
    pub skip: u32,
    /// `skipAfter:` marker id.
    pub skip_after: Option<u32>,
    /// `setvar`s in order.
    pub setvars: Vec<SetVar>,
    /// `ctl`s in order.
    pub ctls: Vec<Ctl>,
    /// Next link of the chain (index into [`RuleSet::rules`]).
    pub chain: Option<usize>,
    /// Whether this rule is a chain link (not a starter).
    pub is_link: bool,
    /// Where this rule's operator is scanned, when it is a pattern (see [`Group`]).
    pub prefilter: Option<Prefilter>,
}

/// A pattern rule's place in the scan groups: one pattern per variable class its targets
/// touch, and its bit in the union of its [`TargetSet`].
#[derive(Debug, Clone)]
pub struct Prefilter {
    /// Per [`ScanClass`]: the group and the pattern there (`None`: no target of that class).
    pub by_class: [Option<(u16, PatternId)>; ScanClass::COUNT],
    /// The rule's operator, numbered across the rule set (bits of [`TargetSet::patterns`]).
    pub key: u32,
    /// The rule's [`TargetSet`] (index into [`RuleSet::unions`]).
    pub union: u16,
}

impl Prefilter {
    /// The group and pattern that answer for values of `var`.
    pub fn for_var(&self, var: Var) -> Option<(u16, PatternId)> {
        self.by_class
            .get(ScanClass::of(var) as usize)
            .copied()
            .flatten()
    }
}

/// Variables that are scanned against the same pattern database (per transformation chain).
/// CRS selects the same rules for every variable of a class (user data in ARGS, cookies, XML
/// and files; headers; the request line's parts), so one database per class holds few patterns
/// that cannot apply to a value, and each value is scanned once per chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanClass {
    /// Arguments, cookies, XML, files, bodies: what the client fills freely.
    UserData = 0,
    /// Request header values and names.
    Headers = 1,
    /// URI, file and base name, query string, request line, method, protocol.
    RequestLine = 2,
    /// Response variables.
    Response = 3,
    /// Everything else (TX, collections, multipart details).
    Other = 4,
}

impl ScanClass {
    /// Number of classes.
    pub const COUNT: usize = 5;

    /// The class of `var`.
    pub fn of(var: Var) -> ScanClass {
        match var {
            Var::Args
            | Var::ArgsGet
            | Var::ArgsPost
            | Var::ArgsNames
            | Var::ArgsGetNames
            | Var::ArgsPostNames
            | Var::RequestCookies
            | Var::RequestCookiesNames
            | Var::RequestBody
            | Var::Files
            | Var::FilesNames
            | Var::Xml => ScanClass::UserData,
            Var::RequestHeaders | Var::RequestHeadersNames => ScanClass::Headers,
            Var::RequestFilename
            | Var::RequestBasename
            | Var::RequestUri
            | Var::RequestUriRaw
            | Var::RequestLine
            | Var::RequestMethod
            | Var::RequestProtocol
            | Var::QueryString => ScanClass::RequestLine,
            Var::ResponseHeaders
            | Var::ResponseHeadersNames
            | Var::ResponseProtocol
            | Var::ResponseBody => ScanClass::Response,
            _ => ScanClass::Other,
        }
    }
}

/// The pattern operators of the rules that share one transformation chain and select variables
/// of one [`ScanClass`]: each such value, after the chain, is scanned once against all of them;
/// each rule then reads its pattern's result.
#[derive(Debug)]
pub struct Group {
    /// The transformation chain applied before the scan.
    pub transforms: Vec<Transformation>,
    /// The compiled patterns.
    pub set: PatternSet,
    /// By [`PatternId`]: the operator's [`Prefilter::key`].
    pub keys: Vec<u32>,
}

/// Options for [`compile_with`].
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Directory for compiled Hyperscan databases (skips recompiling unchanged rule sets).
    pub cache_dir: Option<std::path::PathBuf>,
}

/// One step of a phase program.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// Evaluate rule (chain starter) at this index of [`RuleSet::rules`].
    Rule(usize),
    /// `SecMarker` (interned id).
    Marker(u32),
}

/// What `block` means in a phase (from `SecDefaultAction`).
#[derive(Debug, Clone)]
pub struct PhaseDefault {
    /// Disruptive action (`pass` unless configured).
    pub disruptive: Disruptive,
    /// `status:` of the default action.
    pub status: Option<u16>,
}

/// The compiled configuration. Immutable; shared by every shard.
#[derive(Debug)]
pub struct RuleSet {
    /// Every rule, starters and links.
    pub rules: Vec<Rule>,
    /// Programs for phases 1–5 (index 0 = phase 1).
    pub phases: [Vec<Step>; 5],
    /// Per phase: what `block` does.
    pub defaults: [PhaseDefault; 5],
    /// Engine settings.
    pub settings: Settings,
    /// Marker names by id.
    pub markers: Vec<String>,
    /// Warnings from parsing (ignored directives).
    pub warnings: Vec<String>,
    /// Pattern groups, one per (transformation chain, variable kinds).
    pub groups: Vec<Group>,
    /// Target sets: the pattern rules of one chain that select the same values (see
    /// [`Prefilter::union`]).
    pub unions: Vec<TargetSet>,
    /// The groups' chains merged over shared prefixes (`plan`), by group index.
    pub chains: crate::plan::ChainTrie,
}

/// The pattern rules of one transformation chain that share their targets: every value one of
/// them selects is selected by all, so one union of matched patterns over those values answers
/// each of them (`eval::fast`).
#[derive(Debug, Clone)]
pub struct TargetSet {
    /// The rules' operators, one bit per [`Prefilter::key`].
    pub patterns: Vec<u64>,
}

impl TargetSet {
    /// Whether operator `key` belongs to a rule of this target set.
    pub fn has(&self, key: u32) -> bool {
        self.patterns
            .get(key as usize / 64)
            .is_some_and(|w| w & (1u64 << (key % 64)) != 0)
    }
}

/// Parses and compiles the configuration file at `path`.
pub fn compile_file(path: &Path) -> Result<RuleSet, CompileError> {
    let cfg = seclang::parse_file(path).map_err(|e| CompileError {
        rule_id: None,
        span: e.span,
        message: e.message,
    })?;
    compile_with(cfg, &CompileOptions::default())
}

/// Compiles a parsed configuration with default options (no database cache).
pub fn compile(cfg: seclang::Config) -> Result<RuleSet, CompileError> {
    compile_with(cfg, &CompileOptions::default())
}

struct Pending {
    ast: RuleAst,
    links: Vec<RuleAst>,
    defaults: Vec<Action>,
}

enum Item {
    Rule(usize),
    Marker(u32),
}

/// Compiles a parsed configuration.
pub fn compile_with(cfg: seclang::Config, opts: &CompileOptions) -> Result<RuleSet, CompileError> {
    let mut settings = Settings::default();
    let mut pending: Vec<Pending> = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    let mut markers: Vec<String> = Vec::new();
    let mut defaults: [Vec<Action>; 5] = Default::default();
    let mut removals: Vec<Directive> = Vec::new();
    let mut in_chain = false;

    for d in cfg.directives {
        match d {
            Directive::Rule(ast) => {
                if in_chain {
                    let last = pending.last_mut().expect("in_chain implies a starter");
                    in_chain = has(&ast.actions, "chain");
                    last.links.push(ast);
                } else {
                    in_chain = has(&ast.actions, "chain");
                    let phase = phase_of(&ast.actions).map_err(|m| rule_err(&ast, m))?;
                    let defaults = defaults[usize::from(phase - 1)].clone();
                    items.push(Item::Rule(pending.len()));
                    pending.push(Pending {
                        ast,
                        links: Vec::new(),
                        defaults,
                    });
                }
            }
            Directive::Marker(name, _) => {
                in_chain = false;
                let id = intern(&mut markers, &name);
                items.push(Item::Marker(id));
            }
            Directive::DefaultAction(actions, span) => {
                let phase = phase_of(&actions).map_err(|m| CompileError {
                    rule_id: None,
                    span: Some(span.clone()),
                    message: m,
                })?;
                defaults[usize::from(phase - 1)] = actions;
            }
            Directive::Setting(name, args, span) => {
                apply_setting(&mut settings, &name, &args).map_err(|m| CompileError {
                    rule_id: None,
                    span: Some(span),
                    message: m,
                })?;
            }
            Directive::UpdateActionById(id, actions, _) => {
                for p in pending.iter_mut() {
                    if rule_id_of(&p.ast.actions) == Some(id) {
                        update_actions(&mut p.ast.actions, &actions);
                    }
                }
            }
            other => removals.push(other),
        }
    }

    // Exceptions (removals, target updates) apply to the whole set, as libmodsecurity3 keeps
    // them as run-time exceptions that every rule consults.
    let mut removed = vec![false; pending.len()];
    for r in &removals {
        for (i, p) in pending.iter_mut().enumerate() {
            let id = rule_id_of(&p.ast.actions).unwrap_or(0);
            let in_ranges = |ranges: &[(u32, u32)]| ranges.iter().any(|&(a, b)| id >= a && id <= b);
            let tagged = |tag: &str| values_of(&p.ast.actions, "tag").any(|t| t == tag);
            let msged = |msg: &str| values_of(&p.ast.actions, "msg").any(|t| t == msg);
            let (remove, add): (bool, Option<&Vec<VarSel>>) = match r {
                Directive::RemoveById(ranges, _) => (in_ranges(ranges), None),
                Directive::RemoveByTag(tag, _) => (tagged(tag), None),
                Directive::RemoveByMsg(msg, _) => (msged(msg), None),
                Directive::UpdateTargetById(ranges, vars, _) if in_ranges(ranges) => {
                    (false, Some(vars))
                }
                Directive::UpdateTargetByTag(tag, vars, _) if tagged(tag) => (false, Some(vars)),
                Directive::UpdateTargetByMsg(msg, vars, _) if msged(msg) => (false, Some(vars)),
                _ => (false, None),
            };
            if remove {
                removed[i] = true;
            }
            if let Some(vars) = add {
                p.ast.vars.extend(vars.iter().cloned());
            }
        }
    }

    let mut rules: Vec<Rule> = Vec::new();
    let mut starter_index: Vec<Option<usize>> = vec![None; pending.len()];
    let mut pm_cache: HashMap<std::path::PathBuf, Vec<Vec<u8>>> = HashMap::new();
    let mut marker_lookup = |name: &str| intern(&mut markers, name);
    for (i, p) in pending.iter().enumerate() {
        if removed[i] {
            continue;
        }
        let starter = lower(&p.ast, &p.defaults, None, &mut pm_cache, &mut marker_lookup)?;
        let (id, phase) = (starter.id, starter.phase);
        let idx = rules.len();
        rules.push(starter);
        starter_index[i] = Some(idx);
        let mut prev = idx;
        for link in &p.links {
            let mut r = lower(
                link,
                &p.defaults,
                Some((id, phase)),
                &mut pm_cache,
                &mut marker_lookup,
            )?;
            r.is_link = true;
            let li = rules.len();
            rules.push(r);
            rules[prev].chain = Some(li);
            prev = li;
        }
    }

    let mut phases: [Vec<Step>; 5] = Default::default();
    for item in &items {
        match item {
            Item::Rule(i) => {
                if let Some(idx) = starter_index[*i] {
                    let ph = usize::from(rules[idx].phase - 1);
                    phases[ph].push(Step::Rule(idx));
                }
            }
            Item::Marker(m) => {
                for ph in phases.iter_mut() {
                    ph.push(Step::Marker(*m));
                }
            }
        }
    }

    let mut phase_defaults: Vec<PhaseDefault> = Vec::new();
    for d in &defaults {
        let mut pd = PhaseDefault {
            disruptive: Disruptive::Pass,
            status: None,
        };
        for a in d {
            if let Some(x) = disruptive_of(a) {
                pd.disruptive = x;
            }
            if a.name == "status" {
                pd.status = a.value.as_deref().and_then(|v| v.parse().ok());
            }
        }
        phase_defaults.push(pd);
    }
    let defaults: [PhaseDefault; 5] = phase_defaults
        .try_into()
        .expect("exactly five phase defaults");

    let (groups, unions) = build_groups(&mut rules, opts)?;
    let chains = crate::plan::ChainTrie::new(groups.iter().map(|g| g.transforms.as_slice()));
    Ok(RuleSet {
        rules,
        phases,
        defaults,
        settings,
        markers,
        warnings: cfg.warnings,
        groups,
        unions,
        chains,
    })
}

/// The targets a rule scans, as a comparable key: rules of one group with the same targets share
/// a [`TargetSet`].
fn target_key(r: &Rule) -> Vec<String> {
    let mut k: Vec<String> = r
        .targets
        .iter()
        .map(|t| {
            let key = match &t.key {
                KeySel::All => String::new(),
                KeySel::Name(n) => format!("={n}"),
                KeySel::Regex(_, text) => format!("~{text}"),
            };
            format!("{}{}{key}", if t.count { "&" } else { "" }, t.var.name())
        })
        .collect();
    k.sort_unstable();
    k.dedup();
    k
}

/// Registers every groupable pattern operator in the builder of each (transformation chain,
/// [`ScanClass`]) its targets touch, and each such rule in the [`TargetSet`] of its (chain,
/// exact targets). `multiMatch` rules stay out: they need the operator after every step.
///
/// Why this grain (measured on CRS 4.28, perf/runs/2026-11-24-grouping): one database per
/// (chain, exact targets) means 210 databases and a JSON argument scanned ~76 times; one per
/// chain makes every header pay the Hyperscan cost of the ARGS-only RCE patterns; one for all
/// chains costs ~10 µs per scan. Per (chain, class) a value is scanned once per chain against
/// the patterns that may apply to its class. PCRE2 confirmation is lazy, asked only for the
/// patterns of the target sets that select the value (`eval::scan`).
fn build_groups(
    rules: &mut [Rule],
    opts: &CompileOptions,
) -> Result<(Vec<Group>, Vec<TargetSet>), CompileError> {
    let mut chains: Vec<(Vec<Transformation>, ScanClass)> = Vec::new();
    let mut builders: Vec<(PatternSetBuilder, Vec<u32>)> = Vec::new();
    let mut set_keys: Vec<(Vec<Transformation>, Vec<String>)> = Vec::new();
    let mut unions: Vec<TargetSet> = Vec::new();
    let mut next_key: u32 = 0;
    for r in rules.iter_mut() {
        if r.multi_match || !groupable(&r.op) {
            continue;
        }
        let too_many = |what: &str| CompileError {
            rule_id: Some(r.id),
            span: Some(r.span.clone()),
            message: format!("more than 65535 pattern {what}"),
        };
        let key = next_key;
        next_key += 1;
        let mut by_class = [None; ScanClass::COUNT];
        let mut classes: Vec<ScanClass> = r.targets.iter().map(|t| ScanClass::of(t.var)).collect();
        classes.sort_unstable_by_key(|c| *c as usize);
        classes.dedup();
        for class in classes {
            let gi = match chains
                .iter()
                .position(|(c, k)| *c == r.transforms && *k == class)
            {
                Some(i) => i,
                None => {
                    chains.push((r.transforms.clone(), class));
                    builders.push((PatternSetBuilder::new(), Vec::new()));
                    chains.len() - 1
                }
            };
            let (b, keys) = &mut builders[gi];
            let pid = add_pattern(b, r)?;
            keys.push(key);
            let g16 = u16::try_from(gi).map_err(|_| too_many("groups"))?;
            if let Some(slot) = by_class.get_mut(class as usize) {
                *slot = Some((g16, pid));
            }
        }
        let tk = (r.transforms.clone(), target_key(r));
        let ui = match set_keys.iter().position(|k| *k == tk) {
            Some(i) => i,
            None => {
                set_keys.push(tk);
                unions.push(TargetSet {
                    patterns: Vec::new(),
                });
                unions.len() - 1
            }
        };
        let u = &mut unions[ui];
        let w = key as usize / 64;
        if u.patterns.len() <= w {
            u.patterns.resize(w + 1, 0);
        }
        u.patterns[w] |= 1u64 << (key % 64);
        r.prefilter = Some(Prefilter {
            by_class,
            key,
            union: u16::try_from(ui).map_err(|_| too_many("target sets"))?,
        });
    }
    let (chains, builders) = share_equal_groups(rules, chains, builders);
    let mut groups = Vec::new();
    // All groups at once: the Hyperscan compiles spread over the CPUs (cold start-up, issue #4).
    let (builders, keys): (Vec<_>, Vec<_>) = builders.into_iter().unzip();
    let sets = crate::eval::leaf::matcher::build_all(builders, opts.cache_dir.as_deref());
    for (((transforms, _), set), keys) in chains.into_iter().zip(sets).zip(keys) {
        let set = set.map_err(|e| CompileError {
            rule_id: None,
            span: None,
            message: format!("building the pattern database: {e}"),
        })?;
        groups.push(Group {
            transforms,
            set,
            keys,
        });
    }
    Ok((groups, unions))
}

/// Merges the groups of one chain whose classes hold exactly the same rules (so the same
/// patterns, in the same order) into one, and points the rules at it: a value belongs to one
/// class, so a shared database is never scanned twice for it, and its memory and compile time
/// are spent once (CRS 4.28: the XSS chains hold the same rules for user data and headers).
#[allow(clippy::type_complexity)]
fn share_equal_groups(
    rules: &mut [Rule],
    chains: Vec<(Vec<Transformation>, ScanClass)>,
    builders: Vec<(PatternSetBuilder, Vec<u32>)>,
) -> (
    Vec<(Vec<Transformation>, ScanClass)>,
    Vec<(PatternSetBuilder, Vec<u32>)>,
) {
    // For each group, the index of the first group equal to it (itself when it is the first).
    let mut first: Vec<usize> = Vec::with_capacity(chains.len());
    for gi in 0..chains.len() {
        let same = (0..gi).find(|&gj| {
            first.get(gj) == Some(&gj)
                && chains.get(gj).map(|c| &c.0) == chains.get(gi).map(|c| &c.0)
                && builders.get(gj).map(|b| &b.1) == builders.get(gi).map(|b| &b.1)
        });
        first.push(same.unwrap_or(gi));
    }
    let mut new_index = vec![0u16; chains.len()];
    let mut n: u16 = 0;
    for gi in 0..chains.len() {
        if first[gi] == gi {
            new_index[gi] = n;
            n += 1;
        } else {
            new_index[gi] = new_index[first[gi]];
        }
    }
    for r in rules.iter_mut() {
        if let Some(pf) = &mut r.prefilter {
            for (g, _) in pf.by_class.iter_mut().flatten() {
                if let Some(&ng) = new_index.get(usize::from(*g)) {
                    *g = ng;
                }
            }
        }
    }
    chains
        .into_iter()
        .zip(builders)
        .enumerate()
        .filter(|(gi, _)| first.get(*gi) == Some(gi))
        .map(|(_, cb)| cb)
        .unzip()
}

/// Whether `op` is decided by a pattern database: regexes, phrase lists, constant literals.
fn groupable(op: &Op) -> bool {
    match op {
        Op::Rx(_) | Op::Pm(_) => true,
        Op::Contains(m) | Op::BeginsWith(m) | Op::EndsWith(m) | Op::Streq(m) => {
            m.constant().is_some()
        }
        _ => false,
    }
}

/// Adds rule `r`'s operator (which is [`groupable`]) to `b`.
fn add_pattern(b: &mut PatternSetBuilder, r: &Rule) -> Result<PatternId, CompileError> {
    let err = |e: crate::eval::leaf::matcher::MatcherError| CompileError {
        rule_id: Some(r.id),
        span: Some(r.span.clone()),
        message: e.to_string(),
    };
    let lit = |m: &Macro| m.constant().map(<[u8]>::to_vec).unwrap_or_default();
    match &r.op {
        Op::Rx(_) => b.add_regex(&r.op_arg),
        Op::Pm(phrases) => b.add_phrases(phrases),
        Op::Contains(m) => b.add_literal(&lit(m), LiteralKind::Contains),
        Op::BeginsWith(m) => b.add_literal(&lit(m), LiteralKind::BeginsWith),
        Op::EndsWith(m) => b.add_literal(&lit(m), LiteralKind::EndsWith),
        Op::Streq(m) => b.add_literal(&lit(m), LiteralKind::Equals),
        _ => {
            return Err(CompileError {
                rule_id: Some(r.id),
                span: Some(r.span.clone()),
                message: String::from("internal: not a pattern operator"),
            })
        }
    }
    .map_err(err)
}

fn intern(markers: &mut Vec<String>, name: &str) -> u32 {
    if let Some(p) = markers.iter().position(|m| m == name) {
        return p as u32;
    }
    markers.push(name.to_string());
    (markers.len() - 1) as u32
}

fn has(actions: &[Action], name: &str) -> bool {
    actions.iter().any(|a| a.name == name)
}

fn values_of<'a>(actions: &'a [Action], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    actions
        .iter()
        .filter(move |a| a.name == name)
        .filter_map(|a| a.value.as_deref())
}

fn rule_id_of(actions: &[Action]) -> Option<u32> {
    values_of(actions, "id")
        .next()
        .and_then(|v| v.trim().parse().ok())
}

fn phase_of(actions: &[Action]) -> Result<u8, String> {
    match values_of(actions, "phase").last() {
        None => Ok(2),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "request" => Ok(2),
            "response" => Ok(4),
            "logging" => Ok(5),
            n => match n.parse::<u8>() {
                Ok(p @ 1..=5) => Ok(p),
                _ => Err(format!("invalid phase {v:?}")),
            },
        },
    }
}

fn rule_err(ast: &RuleAst, message: String) -> CompileError {
    CompileError {
        rule_id: rule_id_of(&ast.actions),
        span: Some(ast.span.clone()),
        message,
    }
}

fn disruptive_of(a: &Action) -> Option<Disruptive> {
    Some(match a.name.as_str() {
        "pass" => Disruptive::Pass,
        "deny" => Disruptive::Deny,
        "drop" => Disruptive::Drop,
        "block" => Disruptive::Block,
        "redirect" => Disruptive::Redirect(a.value.clone().unwrap_or_default()),
        "proxy" => Disruptive::Pass,
        "allow" => Disruptive::Allow(match a.value.as_deref().map(str::to_ascii_lowercase) {
            Some(v) if v == "phase" => AllowScope::Phase,
            Some(v) if v == "request" => AllowScope::Request,
            _ => AllowScope::All,
        }),
        _ => return None,
    })
}

/// `SecRuleUpdateActionById`: single-valued actions are replaced, the others appended.
fn update_actions(actions: &mut Vec<Action>, update: &[Action]) {
    const SINGLE: &[&str] = &[
        "msg",
        "logdata",
        "severity",
        "status",
        "phase",
        "ver",
        "rev",
        "maturity",
        "accuracy",
        "capture",
        "log",
        "nolog",
        "auditlog",
        "noauditlog",
    ];
    for u in update {
        if disruptive_of(u).is_some() {
            actions.retain(|a| disruptive_of(a).is_none());
        } else if u.name == "t" {
            // t: values accumulate as in the original rule.
        } else if SINGLE.contains(&u.name.as_str()) {
            let n = u.name.clone();
            actions.retain(|a| a.name != n);
            if n == "log" || n == "nolog" {
                actions.retain(|a| a.name != "log" && a.name != "nolog");
            }
        }
        if u.name != "id" {
            actions.push(u.clone());
        }
    }
}

fn apply_setting(s: &mut Settings, name: &str, args: &[String]) -> Result<(), String> {
    let a = args.first().map(String::as_str).unwrap_or("");
    let on_off = |v: &str| -> Result<bool, String> {
        match v.to_ascii_lowercase().as_str() {
            "on" => Ok(true),
            "off" => Ok(false),
            _ => Err(format!("{name} expects On or Off, got {v:?}")),
        }
    };
    let num = |v: &str| -> Result<usize, String> {
        v.trim()
            .parse()
            .map_err(|_| format!("{name} expects a number, got {v:?}"))
    };
    match name {
        "SecRuleEngine" => {
            s.engine = match a.to_ascii_lowercase().as_str() {
                "on" => EngineMode::On,
                "off" => EngineMode::Off,
                "detectiononly" => EngineMode::DetectionOnly,
                _ => {
                    return Err(format!(
                        "SecRuleEngine expects On|Off|DetectionOnly, got {a:?}"
                    ))
                }
            }
        }
        "SecRequestBodyAccess" => s.request_body_access = on_off(a)?,
        "SecResponseBodyAccess" => s.response_body_access = on_off(a)?,
        "SecRequestBodyLimit" => s.request_body_limit = num(a)?,
        "SecRequestBodyNoFilesLimit" => s.request_body_no_files_limit = num(a)?,
        "SecRequestBodyInMemoryLimit" => {
            num(a)?;
        }
        "SecRequestBodyLimitAction" => {
            s.request_body_limit_reject = a.eq_ignore_ascii_case("Reject")
        }
        "SecResponseBodyLimitAction" => {
            s.response_body_limit_reject = a.eq_ignore_ascii_case("Reject")
        }
        "SecResponseBodyMimeType" => {
            for t in args.iter().flat_map(|x| x.split_whitespace()) {
                let t = t.to_ascii_lowercase();
                if !s.response_mime_types.contains(&t) {
                    s.response_mime_types.push(t);
                }
            }
        }
        "SecResponseBodyLimit" => s.response_body_limit = num(a)?,
        "SecArgumentsLimit" => s.arguments_limit = num(a)?,
        "SecRequestBodyJsonDepthLimit" => s.json_depth_limit = num(a)?,
        "SecArgumentSeparator" => {
            s.argument_separator = *a
                .as_bytes()
                .first()
                .ok_or_else(|| "SecArgumentSeparator needs a character".to_string())?
        }
        _ => {}
    }
    Ok(())
}

fn severity_num(v: &str) -> Option<u8> {
    const NAMES: [&str; 8] = [
        "EMERGENCY",
        "ALERT",
        "CRITICAL",
        "ERROR",
        "WARNING",
        "NOTICE",
        "INFO",
        "DEBUG",
    ];
    if let Ok(n) = v.trim().parse::<u8>() {
        return (n < 8).then_some(n);
    }
    NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(v.trim()))
        .map(|p| p as u8)
}

/// Name of a severity number, as log lines show it.
pub fn severity_name(n: u8) -> &'static str {
    [
        "EMERGENCY",
        "ALERT",
        "CRITICAL",
        "ERROR",
        "WARNING",
        "NOTICE",
        "INFO",
        "DEBUG",
    ]
    .get(usize::from(n))
    .copied()
    .unwrap_or("")
}

fn compile_target(sel: &VarSel) -> Result<Target, String> {
    let var = Var::from_name(&sel.name).ok_or_else(|| format!("unknown variable {}", sel.name))?;
    let key = match &sel.key {
        None => KeySel::All,
        Some(Key::Name(n)) => KeySel::Name(n.to_ascii_lowercase()),
        Some(Key::Regex(r)) => {
            let re = Regex::new(&format!("(?i){r}"))
                .map_err(|e| format!("bad key regex /{r}/: {}", e.message))?;
            KeySel::Regex(Arc::new(re), r.clone())
        }
    };
    Ok(Target {
        var,
        key,
        count: sel.count,
    })
}

fn lower(
    ast: &RuleAst,
    defaults: &[Action],
    starter: Option<(u32, u8)>,
    pm_cache: &mut HashMap<std::path::PathBuf, Vec<Vec<u8>>>,
    marker: &mut dyn FnMut(&str) -> u32,
) -> Result<Rule, CompileError> {
    let id = match starter {
        Some((id, _)) => id,
        None => rule_id_of(&ast.actions).unwrap_or(0),
    };
    let err = |m: String| CompileError {
        rule_id: Some(id),
        span: Some(ast.span.clone()),
        message: m,
    };
    let phase = match starter {
        Some((_, p)) => p,
        None => phase_of(&ast.actions).map_err(err)?,
    };
    let mut targets = Vec::new();
    let mut exclusions = Vec::new();
    for v in &ast.vars {
        let t = compile_target(v).map_err(err)?;
        if v.negated {
            exclusions.push(t);
        } else {
            targets.push(t);
        }
    }
    let (op, negated, op_name, op_arg) = match &ast.op {
        None => (
            Op::Unconditional,
            false,
            "unconditionalMatch".to_string(),
            String::new(),
        ),
        Some(o) => (
            compile_op(&o.name, &o.arg, &ast.span, pm_cache).map_err(err)?,
            o.negated,
            o.name.clone(),
            o.arg.clone(),
        ),
    };
    let mut rule = Rule {
        id,
        phase,
        span: ast.span.clone(),
        targets,
        exclusions,
        op,
        negated,
        op_name,
        op_arg,
        transforms: Vec::new(),
        msg: None,
        logdata: None,
        tags: Vec::new(),
        severity: None,
        ver: None,
        rev: None,
        maturity: None,
        accuracy: None,
        log: true,
        capture: false,
        multi_match: false,
        disruptive: Disruptive::Pass,
        status: None,
        skip: 0,
        skip_after: None,
        setvars: Vec::new(),
        ctls: Vec::new(),
        chain: None,
        is_link: starter.is_some(),
        prefilter: None,
    };
    // Inherited defaults first (their transformations and log flags), then the rule's own.
    let mut own_disruptive = false;
    for (inherited, a) in defaults
        .iter()
        .map(|a| (true, a))
        .chain(ast.actions.iter().map(|a| (false, a)))
    {
        let v = a.value.as_deref().unwrap_or("");
        if let Some(d) = disruptive_of(a) {
            if inherited {
                if starter.is_none() {
                    rule.disruptive = d;
                }
            } else {
                rule.disruptive = d;
                own_disruptive = true;
            }
            continue;
        }
        match a.name.as_str() {
            "id"
            | "phase"
            | "chain"
            | "auditlog"
            | "noauditlog"
            | "initcol"
            | "expirevar"
            | "setenv"
            | "setuid"
            | "setsid"
            | "setrsc"
            | "sanitisearg"
            | "sanitisematched"
            | "sanitisematchedbytes"
            | "sanitiserequestheader"
            | "sanitiseresponseheader"
            | "append"
            | "prepend"
            | "exec"
            | "pause"
            | "xmlns"
            | "deprecatevar"
            | "deprecatelog" => {}
            "t" => {
                if v.eq_ignore_ascii_case("none") {
                    rule.transforms.clear();
                } else {
                    let t = Transformation::from_name(v.trim())
                        .ok_or_else(|| err(format!("unknown transformation {v:?}")))?;
                    rule.transforms.push(t);
                }
            }
            "msg" => rule.msg = Some(Macro::parse(v)),
            "logdata" => rule.logdata = Some(Macro::parse(v)),
            "tag" => rule.tags.push(v.to_string()),
            "severity" => {
                rule.severity =
                    Some(severity_num(v).ok_or_else(|| err(format!("bad severity {v:?}")))?)
            }
            "ver" => rule.ver = Some(v.to_string()),
            "rev" => rule.rev = Some(v.to_string()),
            "maturity" => rule.maturity = Some(v.to_string()),
            "accuracy" => rule.accuracy = Some(v.to_string()),
            "log" => rule.log = true,
            "nolog" => rule.log = false,
            "capture" => rule.capture = true,
            "multimatch" => rule.multi_match = true,
            "status" => {
                rule.status = Some(
                    v.trim()
                        .parse()
                        .map_err(|_| err(format!("bad status {v:?}")))?,
                )
            }
            "skip" => {
                rule.skip = v
                    .trim()
                    .parse()
                    .map_err(|_| err(format!("bad skip {v:?}")))?
            }
            "skipafter" => rule.skip_after = Some(marker(v.trim())),
            "setvar" => rule.setvars.push(parse_setvar(v).map_err(err)?),
            "ctl" => rule.ctls.push(parse_ctl(v).map_err(err)?),
            other => return Err(err(format!("unknown action {other:?}"))),
        }
    }
    let _ = own_disruptive;
    Ok(rule)
}

fn parse_setvar(v: &str) -> Result<SetVar, String> {
    let v = v.trim();
    let (delete, v) = match v.strip_prefix('!') {
        Some(r) => (true, r),
        None => (false, v),
    };
    let (lhs, rhs) = match v.split_once('=') {
        Some((l, r)) => (l, Some(r)),
        None => (v, None),
    };
    let (coll, key) = lhs
        .split_once('.')
        .ok_or_else(|| format!("setvar {v:?}: expected collection.key"))?;
    let coll = Var::from_name(coll.trim())
        .filter(|c| c.is_writable())
        .ok_or_else(|| format!("setvar {v:?}: {coll} is not a writable collection"))?;
    let key = Macro::parse(&key.trim().to_ascii_lowercase());
    let op = if delete {
        SetOp::Delete
    } else {
        match rhs {
            None => SetOp::Set(Macro::parse("1")),
            Some(r) => {
                if let Some(x) = r.strip_prefix('+') {
                    SetOp::Add(Macro::parse(x))
                } else if let Some(x) = r.strip_prefix('-') {
                    SetOp::Sub(Macro::parse(x))
                } else {
                    SetOp::Set(Macro::parse(r))
                }
            }
        }
    };
    Ok(SetVar { coll, key, op })
}

fn parse_ctl(v: &str) -> Result<Ctl, String> {
    let (name, val) = v
        .split_once('=')
        .ok_or_else(|| format!("ctl {v:?}: expected name=value"))?;
    let val = val.trim();
    let on_off = |x: &str| x.eq_ignore_ascii_case("on") || x.eq_ignore_ascii_case("true");
    let target = |x: &str| -> Result<Target, String> {
        let vars = seclang::ast::parse_vars(x)?;
        let first = vars.first().ok_or("empty target")?;
        compile_target(first)
    };
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "ruleengine" => Ctl::RuleEngine(match val.to_ascii_lowercase().as_str() {
            "on" => EngineMode::On,
            "off" => EngineMode::Off,
            "detectiononly" => EngineMode::DetectionOnly,
            _ => {
                return Err(format!(
                    "ctl:ruleEngine={val}: expected On|Off|DetectionOnly"
                ))
            }
        }),
        "ruleremovebyid" => {
            let mut r = Vec::new();
            for p in val.split([' ', ',']).filter(|p| !p.is_empty()) {
                r.push(seclang::parse_id_range(p)?);
            }
            Ctl::RuleRemoveById(r)
        }
        "ruleremovebytag" => Ctl::RuleRemoveByTag(val.to_string()),
        "ruleremovebymsg" => Ctl::RuleRemoveByMsg(val.to_string()),
        "ruleremovetargetbyid" => {
            let (ids, t) = val
                .split_once(';')
                .ok_or_else(|| format!("ctl:ruleRemoveTargetById={val}: expected id;TARGET"))?;
            let mut r = Vec::new();
            for p in ids.split([' ', ',']).filter(|p| !p.is_empty()) {
                r.push(seclang::parse_id_range(p)?);
            }
            Ctl::RuleRemoveTargetById(r, target(t)?)
        }
        "ruleremovetargetbytag" => {
            let (tag, t) = val
                .split_once(';')
                .ok_or_else(|| format!("ctl:ruleRemoveTargetByTag={val}: expected tag;TARGET"))?;
            Ctl::RuleRemoveTargetByTag(tag.to_string(), target(t)?)
        }
        "ruleremovetargetbymsg" => {
            let (msg, t) = val
                .split_once(';')
                .ok_or_else(|| format!("ctl:ruleRemoveTargetByMsg={val}: expected msg;TARGET"))?;
            Ctl::RuleRemoveTargetByMsg(msg.to_string(), target(t)?)
        }
        "requestbodyprocessor" => Ctl::RequestBodyProcessor(
            BodyProcessor::from_name(val)
                .ok_or_else(|| format!("ctl:requestBodyProcessor={val}: unknown processor"))?,
        ),
        "forcerequestbodyvariable" => Ctl::ForceRequestBodyVariable(on_off(val)),
        "requestbodyaccess" => Ctl::RequestBodyAccess(on_off(val)),
        "responsebodyaccess" => Ctl::ResponseBodyAccess(on_off(val)),
        "auditengine" | "auditlogparts" | "debugloglevel" | "hashengine" | "hashenforcement"
        | "requestbodylimit" | "responsebodylimit" | "parsexmlintoargs" => Ctl::Ignored,
        other => return Err(format!("unknown ctl {other:?}")),
    })
}

fn compile_op(
    name: &str,
    arg: &str,
    span: &Span,
    pm_cache: &mut HashMap<std::path::PathBuf, Vec<Vec<u8>>>,
) -> Result<Op, String> {
    let m = || Macro::parse(arg);
    Ok(match name.to_ascii_lowercase().as_str() {
        "rx" => {
            let mac = m();
            if mac.constant().is_some() {
                Op::Rx(
                    Regex::new(arg)
                        .map_err(|e| format!("bad @rx pattern {arg:?}: {}", e.message))?,
                )
            } else {
                Op::RxMacro(mac)
            }
        }
        "pm" => Op::Pm(
            arg.split_whitespace()
                .map(|p| p.as_bytes().to_ascii_lowercase())
                .collect(),
        ),
        "pmfromfile" | "pmf" => {
            let mut phrases = Vec::new();
            let base = span.file.parent().unwrap_or(Path::new("."));
            for f in arg.split_whitespace() {
                let path = base.join(f);
                if let Some(p) = pm_cache.get(&path) {
                    phrases.extend(p.iter().cloned());
                    continue;
                }
                let text = std::fs::read(&path)
                    .map_err(|e| format!("@pmFromFile {}: {e}", path.display()))?;
                let list: Vec<Vec<u8>> = text
                    .split(|&c| c == b'\n')
                    .map(|l| l.strip_suffix(b"\r").unwrap_or(l).trim_ascii())
                    .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
                    .map(|l| l.to_ascii_lowercase())
                    .collect();
                phrases.extend(list.iter().cloned());
                pm_cache.insert(path, list);
            }
            Op::Pm(phrases)
        }
        "streq" => Op::Streq(m()),
        "contains" => Op::Contains(m()),
        "containsword" => Op::ContainsWord(m()),
        "beginswith" => Op::BeginsWith(m()),
        "endswith" => Op::EndsWith(m()),
        "within" => Op::Within(m()),
        "strmatch" => Op::StrMatch(m()),
        "eq" => Op::Eq(m()),
        "ge" => Op::Ge(m()),
        "gt" => Op::Gt(m()),
        "le" => Op::Le(m()),
        "lt" => Op::Lt(m()),
        "validatebyterange" => Op::ValidateByteRange(Box::new(ByteRanges::parse(arg)?)),
        "validateurlencoding" => Op::ValidateUrlEncoding,
        "validateutf8encoding" => Op::ValidateUtf8Encoding,
        "ipmatch" => Op::IpMatch(IpMatcher::parse(arg)?),
        "detectsqli" => Op::DetectSqli,
        "detectxss" => Op::DetectXss,
        "unconditionalmatch" => Op::Unconditional,
        "nomatch" | "geolookup" | "rbl" | "verifycc" | "verifycpf" | "verifyssn" | "fuzzyhash"
        | "inspectfile" | "gsblookup" | "validatedtd" | "validateschema" | "ipmatchfromfile"
        | "ipmatchf" | "rsub" | "validatehash" => Op::NoMatch,
        other => return Err(format!("unknown operator @{other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_str(text: &str) -> Result<RuleSet, CompileError> {
        compile(seclang::parse_str(text, Path::new("/tmp/t.conf")).unwrap())
    }

    /// Groups are per (chain, class); classes holding the same rules share one database, and
    /// target sets are per (chain, exact targets).
    #[test]
    fn scan_groups_per_chain_and_class() {
        let rs = compile_str(
            "SecRule ARGS|REQUEST_HEADERS \"@rx evil\" \"id:1,phase:2,t:lowercase,pass\"\n\
             SecRule ARGS|REQUEST_HEADERS:Referer \"@rx worse\" \"id:2,phase:2,t:lowercase,pass\"\n\
             SecRule ARGS \"@rx args-only\" \"id:3,phase:2,t:none,pass\"\n\
             SecRule REQUEST_URI|ARGS \"@rx both\" \"id:4,phase:2,t:none,pass\"\n",
        )
        .expect("compile");
        let pf = |i: usize| rs.rules[i].prefilter.clone().expect("pattern rule");
        let (a, h) = (
            pf(0).for_var(Var::Args).expect("args"),
            pf(0).for_var(Var::RequestHeaders).expect("headers"),
        );
        // Rules 1 and 2 are in both classes of t:lowercase: one shared group.
        assert_eq!(a.0, h.0);
        assert_eq!(pf(1).for_var(Var::RequestHeaders).map(|x| x.0), Some(a.0));
        // Different exact targets: different target sets.
        assert_ne!(pf(0).union, pf(1).union);
        // t:none user data holds rules 3 and 4; the request line only rule 4: two groups.
        let ud = pf(2).for_var(Var::Args).expect("args").0;
        assert_eq!(pf(3).for_var(Var::Args).map(|x| x.0), Some(ud));
        let rl = pf(3).for_var(Var::RequestUri).expect("uri").0;
        assert_ne!(ud, rl);
        assert_eq!(pf(2).for_var(Var::RequestUri), None);
        assert_eq!(rs.groups.len(), 3);
        assert_eq!(rs.groups[usize::from(ud)].set.len(), 2);
        assert_eq!(rs.groups[usize::from(rl)].set.len(), 1);
    }

    #[test]
    fn defaults_chains_and_markers() {
        let rs = compile_str(
            "SecDefaultAction \"phase:2,log,auditlog,t:lowercase,pass\"\n\
             SecRule ARGS \"@rx a\" \"id:1,phase:2,block,t:urlDecode,chain,skipAfter:END\"\n\
             SecRule MATCHED_VAR \"@rx b\" \"t:none\"\n\
             SecMarker END\n\
             SecRule ARGS \"@rx c\" \"id:2,phase:1,deny,status:403\"\n",
        )
        .unwrap();
        assert_eq!(rs.rules.len(), 3);
        assert_eq!(
            rs.rules[0].transforms,
            vec![Transformation::Lowercase, Transformation::UrlDecode]
        );
        assert_eq!(rs.rules[0].chain, Some(1));
        assert!(rs.rules[1].transforms.is_empty());
        assert_eq!(rs.rules[0].disruptive, Disruptive::Block);
        assert_eq!(rs.phases[1].len(), 2); // rule 1 + marker
        assert_eq!(rs.phases[0].len(), 2); // marker + rule 2
        assert_eq!(rs.rules[2].status, Some(403));
    }

    #[test]
    fn errors_name_rule_and_line() {
        let e = compile_str("\nSecRule ARGS \"@rx (\" \"id:7,pass\"\n").unwrap_err();
        let s = e.to_string();
        assert!(
            s.starts_with("/tmp/t.conf:2: rule 7: bad @rx pattern"),
            "{s}"
        );
        let e = compile_str("SecRule NOPE \"@rx a\" \"id:8\"\n").unwrap_err();
        assert!(e.to_string().contains("unknown variable NOPE"));
    }

    #[test]
    fn removal_and_update_target() {
        let rs = compile_str(
            "SecRule ARGS \"@rx a\" \"id:1,pass\"\nSecRule ARGS \"@rx a\" \"id:2,pass\"\n\
             SecRuleRemoveById 1\nSecRuleUpdateTargetById 2 \"!ARGS:foo\"\n",
        )
        .unwrap();
        assert_eq!(rs.rules.len(), 1);
        assert_eq!(rs.rules[0].id, 2);
        assert_eq!(rs.rules[0].exclusions.len(), 1);
    }

    /// Whatever parses must compile or fail cleanly, never panic.
    #[test]
    fn random_rules_never_panic() {
        let pieces: &[&str] = &[
            "SecRule ",
            "SecAction ",
            "SecMarker M\n",
            "ARGS",
            "|",
            "!",
            "&",
            ":",
            "/",
            "TX:x",
            "\"",
            " ",
            "@rx (",
            "@rx a",
            "@eq ",
            "@within %{tx.a}",
            "id:1,",
            "t:none,",
            "t:bogus,",
            "setvar:tx.a=+1,",
            "setvar:ip.",
            "ctl:ruleRemoveById=1-2,",
            "chain,",
            "skipAfter:M,",
            "phase:9,",
            "severity:X,",
            "\n",
        ];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..2000 {
            let mut text = String::new();
            for _ in 0..(x % 20) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                text.push_str(pieces[(x % pieces.len() as u64) as usize]);
            }
            if let Ok(cfg) = seclang::parse_str(&text, Path::new("/nonexistent/fuzz.conf")) {
                let _ = compile(cfg);
            }
        }
    }

    #[test]
    fn macros() {
        let m = Macro::parse("x %{tx.a} %{MATCHED_VAR} %{nope}");
        assert_eq!(m.parts.len(), 5);
        assert!(Macro::parse("abc").constant().is_some());
    }
}
