//! Differential fuzzing of spoa-waf against libmodsecurity3.
//!
//! Owns the loop: generate requests (`gen`), run them through `spoa-waf check` and through
//! `modsec-ref` (Debian's libmodsecurity3 3.0.9, `shared/tools/modsec-ref`) with the same CRS
//! configuration, compare per request the verdict (status), the logged rule ids and the inbound
//! anomaly score, and minimise every disagreement to a small reproduction. It refuses to judge
//! which engine is right: a disagreement is either listed in [`DEVIATIONS`] (a libmodsecurity3
//! behaviour we deliberately do not copy, each with its reason and its own test) or a failure.
//!
//! Both engines are separate processes; nothing here links either. The anomaly score is read the
//! same way from both: the generated configuration puts probe rules (ids 9,990,000 + score) just
//! before CRS's blocking evaluation, so the PL1 inbound score appears as a logged rule id.

pub mod gen;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gen::Request;

/// First probe id: the PL1 inbound anomaly score `k` (0..=PROBE_MAX) logs as `PROBE_BASE + k`;
/// a higher score logs `PROBE_BASE + PROBE_MAX + 1`.
pub const PROBE_BASE: u32 = 9_990_000;
pub const PROBE_MAX: u32 = 200;

fn is_probe(id: u32) -> bool {
    (PROBE_BASE..=PROBE_BASE + PROBE_MAX + 1).contains(&id)
}

/// Which CRS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Crs {
    V3,
    V4,
}

impl Crs {
    pub fn name(self) -> &'static str {
        match self {
            Crs::V3 => "crs-3.3.4",
            Crs::V4 => "crs-4.28.0",
        }
    }
}

/// Which engine logs a rule the other does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    SpoaWaf,
    LibModSecurity,
}

/// A deliberate deviation: a libmodsecurity3 3.0.9 behaviour spoa-waf does not copy. A
/// disagreement is listed when the request meets the deviation's condition, every rule id only
/// one engine logs is named by a deviation for that side, a verdict difference comes with a
/// deviation that may change the verdict (the blocking-evaluation rule 949110 then differs too),
/// and a score difference with a deviation that explains it.
#[derive(Debug, Clone, Copy)]
pub struct Deviation {
    pub name: &'static str,
    pub reason: &'static str,
    /// Rules spoa-waf may log alone.
    pub only_spoa_waf: &'static [u32],
    /// Rules libmodsecurity3 may log alone.
    pub only_libmodsecurity: &'static [u32],
    /// The score may differ when one of these rules logs in both engines (matching more or
    /// fewer values in one of them).
    pub score_with: &'static [u32],
    /// It can change the verdict.
    pub verdict: bool,
    /// The requests it can concern.
    pub when: fn(&Request) -> bool,
}

fn always(_: &Request) -> bool {
    true
}

/// The path (before the raw `?`) has a percent-encoded `?`.
fn path_has_encoded_question_mark(r: &Request) -> bool {
    let path = r.uri.split('?').next().unwrap_or("");
    path.to_ascii_lowercase().contains("%3f")
}

/// A body that is not urlencoded.
fn non_urlencoded_body(r: &Request) -> bool {
    let ct = r
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    !r.body.is_empty() && !ct.starts_with("application/x-www-form-urlencoded")
}

/// Rules reading REQUEST_FILENAME or REQUEST_BASENAME (CRS 3.3.4 and 4.28 at any level).
const FILENAME_RULES: &[u32] = &[
    912150, 913120, 920201, 920202, 920250, 920440, 920500, 921190, 930130, 930140, 931131, 933135,
    933150, 933151, 933152, 933153, 933160, 933161, 933180, 933210, 933211, 934100, 934101, 934110,
    934120, 934160, 934170, 934190, 941010, 941101, 941110, 941120, 941130, 941140, 941150, 941160,
    941170, 941180, 941181, 941190, 941200, 941210, 941220, 941230, 941240, 941250, 941260, 941270,
    941280, 941290, 941300, 941310, 941320, 941330, 941340, 941350, 941360, 941370, 941380, 941390,
    941400, 942101, 942120, 942160, 942550, 944130,
];

/// Rules whose chain tests MATCHED_VARS (CRS 3.3.4 and 4.28 at any level).
const MATCHED_VARS_RULES: &[u32] = &[
    921180, 932180, 932200, 932206, 932240, 933120, 933150, 933151, 941310, 942200, 942440, 944110,
    944120, 944250,
];

/// Rules reading REQUEST_BODY (CRS 3.3.4 and 4.28 at any level).
const BODY_RULES: &[u32] = &[
    920240, 920260, 920272, 920273, 921110, 931110, 934210, 934220, 944100, 944110, 944120, 944130,
    944200, 944210, 944240, 944250, 944260, 944300,
];

/// Every libmodsecurity3 behaviour the fuzzer has met that spoa-waf deliberately does not copy.
/// Each has a test of its own (`tests/it/difffuzz.rs`, `deviation_*`) that runs a minimal
/// reproduction through both engines.
pub const DEVIATIONS: &[Deviation] = &[
    Deviation {
        name: "noauditlog-silences-log",
        reason: "libmodsecurity3 3.x writes no log line for a rule with `noauditlog` \
                 (owasp-modsecurity/ModSecurity#3180, a bug: `noauditlog` concerns the audit \
                 log only); spoa-waf logs it, so CRS 4's anomaly report 980170 (CRS 3: \
                 980120-980150) appears for requests scoring below the threshold",
        only_spoa_waf: &[980170, 980120, 980130, 980140, 980150, 901450],
        only_libmodsecurity: &[],
        score_with: &[],
        verdict: false,
        when: always,
    },
    Deviation {
        name: "matched-vars-not-cleared",
        reason: "libmodsecurity3 keeps an earlier rule's match of the same variable in \
                 MATCHED_VARS, so a chain testing MATCHED_VARS runs its setvar once per \
                 duplicate and adds the score twice (944110 after 944100 on the same argument: \
                 +10 instead of +5), and the stale match can complete a chain by itself \
                 (944120); spoa-waf's MATCHED_VARS holds the current rule's matches",
        only_spoa_waf: &[],
        // The stale match can also satisfy a chain that the current matches do not (944120:
        // `invokertransformer` in the body, `runtime` only in an earlier rule's match).
        only_libmodsecurity: MATCHED_VARS_RULES,
        score_with: MATCHED_VARS_RULES,
        verdict: true,
        when: always,
    },
    Deviation {
        name: "pm-misses-overlapping-match",
        reason: "libmodsecurity3's @pm/@pmFromFile automaton loses a phrase that starts inside \
                 a failed partial match of another (`@pm .git/ node_modules/.cache/ login.sql` \
                 does not find `.git/` in `/login.git/config`; restricted-files.data has these \
                 three); spoa-waf finds every occurrence",
        only_spoa_waf: &[
            913100, 913101, 913102, 913110, 913120, 930120, 930121, 930130, 930140, 932120, 932160,
            932161, 932180, 933120, 933130, 933150, 933151, 933190, 934110, 934190, 941180, 944130,
        ],
        only_libmodsecurity: &[],
        score_with: &[],
        verdict: true,
        when: always,
    },
    Deviation {
        name: "encoded-question-mark-ends-filename",
        reason: "libmodsecurity3 percent-decodes the path before splitting off the query, so \
                 `/a%3Fb.old` has REQUEST_FILENAME `/a` and whatever follows `%3F` (a restricted \
                 extension, an attack) is not inspected as the file name: an evasion; spoa-waf \
                 splits at the raw `?` (RFC 3986, ModSecurity v2): REQUEST_FILENAME `/a?b.old`",
        only_spoa_waf: FILENAME_RULES,
        only_libmodsecurity: &[],
        score_with: FILENAME_RULES,
        verdict: true,
        when: path_has_encoded_question_mark,
    },
    Deviation {
        name: "request-body-only-for-urlencoded",
        reason: "libmodsecurity3 fills REQUEST_BODY with the raw body whatever the processor \
                 (multipart, JSON, XML); spoa-waf follows ModSecurity v2 and CRS's regression \
                 tests (whose nginx overrides list v3's behaviour as a platform difference): \
                 REQUEST_BODY only for urlencoded bodies or with forceRequestBodyVariable; \
                 multipart fields and files, JSON and XML are inspected as ARGS/FILES/XML",
        only_spoa_waf: &[],
        only_libmodsecurity: BODY_RULES,
        // A rule matching an argument in both also matches REQUEST_BODY in libmodsecurity3
        // and adds its score once more.
        score_with: BODY_RULES,
        verdict: true,
        when: non_urlencoded_body,
    },
];

/// Known disagreements that are bugs on our side, not yet fixed, each with its reproduction in
/// `tests/it/difffuzz.rs`: the bounded run tolerates them but counts and prints them apart from
/// the deliberate ones (they can change a verdict: that is why they must be fixed).
pub const OPEN: &[Deviation] = &[Deviation {
    name: "libinjectionrs-sqli",
    reason: "OPEN: @detectSQLi runs the libinjectionrs crate, which differs from the C \
             libinjection on some inputs (`0 into outfile'/T`: C `1ks`, libinjectionrs none): \
             942100 logs in libmodsecurity3 only. Needs our own SQLi tokenizer \
             (tests/libinjection/README.md)",
    only_spoa_waf: &[942100],
    only_libmodsecurity: &[942100],
    // 942100 logging in both, but matching one more value in libmodsecurity3.
    score_with: &[942100],
    verdict: true,
    when: always,
}];

/// What one engine decided for one request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    pub status: u16,
    pub ids: BTreeSet<u32>,
}

impl Outcome {
    /// The probed PL1 inbound anomaly score, if a probe logged.
    pub fn score(&self) -> Option<u32> {
        self.ids
            .iter()
            .find(|&&i| is_probe(i))
            .map(|&i| i - PROBE_BASE)
    }
    fn rule_ids(&self) -> BTreeSet<u32> {
        self.ids.iter().copied().filter(|&i| !is_probe(i)).collect()
    }
}

/// How two outcomes differ (empty when they agree).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signature {
    pub status: Option<(u16, u16)>,
    pub only_spoa_waf: Vec<u32>,
    pub only_libmodsecurity: Vec<u32>,
    pub score: Option<(Option<u32>, Option<u32>)>,
}

impl Signature {
    pub fn of(ours: &Outcome, theirs: &Outcome) -> Signature {
        let (a, b) = (ours.rule_ids(), theirs.rule_ids());
        Signature {
            status: (ours.status != theirs.status).then_some((ours.status, theirs.status)),
            only_spoa_waf: a.difference(&b).copied().collect(),
            only_libmodsecurity: b.difference(&a).copied().collect(),
            score: (ours.score() != theirs.score()).then_some((ours.score(), theirs.score())),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.only_spoa_waf.is_empty()
            && self.only_libmodsecurity.is_empty()
            && self.score.is_none()
    }
    /// The same rule-level disagreement (what minimising must keep).
    fn same_kind(&self, other: &Signature) -> bool {
        self.status.is_some() == other.status.is_some()
            && self.only_spoa_waf == other.only_spoa_waf
            && self.only_libmodsecurity == other.only_libmodsecurity
            && self.score.is_some() == other.score.is_some()
    }
    /// The deviations (from `list`) that explain this disagreement, or None when some part
    /// is unexplained.
    pub fn explained_by(
        &self,
        lists: &[&'static [Deviation]],
        r: &Request,
        ours: &Outcome,
        theirs: &Outcome,
    ) -> Option<Vec<&'static Deviation>> {
        let mut used: Vec<&'static Deviation> = Vec::new();
        let mut take = |d: &'static Deviation| {
            if !used.iter().any(|u| u.name == d.name) {
                used.push(d);
            }
        };
        let devs = || lists.iter().flat_map(|l| l.iter()).filter(|d| (d.when)(r));
        let blocking = |id: u32| self.status.is_some() && (id == 949110 || id == 949111);
        for &id in self.only_spoa_waf.iter().filter(|&&i| !blocking(i)) {
            take(devs().find(|d| d.only_spoa_waf.contains(&id))?);
        }
        for &id in self.only_libmodsecurity.iter().filter(|&&i| !blocking(i)) {
            take(devs().find(|d| d.only_libmodsecurity.contains(&id))?);
        }
        if self.score.is_some() {
            let rules_differ =
                !self.only_spoa_waf.is_empty() || !self.only_libmodsecurity.is_empty();
            if !rules_differ {
                let d = devs().find(|d| {
                    d.score_with
                        .iter()
                        .any(|r| ours.ids.contains(r) && theirs.ids.contains(r))
                })?;
                take(d);
            }
        }
        if self.status.is_some() && !used.iter().any(|d| d.verdict) {
            return None;
        }
        if used.is_empty() {
            return None;
        }
        Some(used)
    }
}

/// Where the tools and rules are.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The spoa-waf checkout (for `rules/modsecurity-base.conf`, `perf/baseline/overrides.conf`).
    pub repo: PathBuf,
    /// `shared/` (CRS 4.28 data and `tools/modsec-ref`).
    pub shared: PathBuf,
    pub spoa_waf: PathBuf,
    pub modsec_ref: PathBuf,
    /// Scratch directory for configurations and corpora.
    pub work: PathBuf,
}

/// `shared/` next to or above `start`.
pub fn find_shared(start: &Path) -> Option<PathBuf> {
    let mut d = start.to_path_buf();
    loop {
        if d.join("shared/crs/v4.28.0/rules").is_dir() {
            return Some(d.join("shared"));
        }
        if !d.pop() {
            return None;
        }
    }
}

/// Builds `modsec-ref` as its README says (`g++ … -lmodsecurity`) into `out`, unless there.
pub fn build_modsec_ref(shared: &Path, out: &Path) -> Result<PathBuf, String> {
    if out.is_file() {
        return Ok(out.to_path_buf());
    }
    let src = shared.join("tools/modsec-ref/modsec_ref.cc");
    if !src.is_file() {
        return Err(format!("{} not found", src.display()));
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let st = Command::new("g++")
        .args(["-O2", "-std=c++17", "-o"])
        .arg(&tmp)
        .arg(&src)
        .arg("-lmodsecurity")
        .status()
        .map_err(|e| format!("cannot run g++: {e}"))?;
    if !st.success() {
        return Err(
            "g++ modsec_ref.cc -lmodsecurity failed (libmodsecurity-dev, nlohmann-json3-dev?)"
                .into(),
        );
    }
    std::fs::rename(&tmp, out).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(out.to_path_buf())
}

fn conf_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    v.sort();
    Ok(v)
}

/// Writes the configuration both engines load for `crs` and returns its path: the engine
/// settings spoa-waf ships, the benchmark overrides (no audit/debug log), CRS setup at PL1 in
/// blocking mode, every rule file in order, and the score probes right before REQUEST-949.
pub fn write_config(s: &Setup, crs: Crs) -> Result<PathBuf, String> {
    let (setup, rules, before, after, score_var): (
        PathBuf,
        PathBuf,
        Vec<PathBuf>,
        Vec<PathBuf>,
        &str,
    ) = match crs {
        Crs::V3 => (
            "/etc/modsecurity/crs/crs-setup.conf".into(),
            "/usr/share/modsecurity-crs/rules".into(),
            vec!["/etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf".into()],
            vec!["/etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf".into()],
            "TX:ANOMALY_SCORE_PL1",
        ),
        Crs::V4 => (
            s.shared.join("crs/v4.28.0/crs-setup.conf.example"),
            s.shared.join("crs/v4.28.0/rules"),
            vec![],
            vec![],
            "TX:INBOUND_ANOMALY_SCORE_PL1",
        ),
    };
    if !setup.is_file() {
        return Err(format!(
            "{} not found (Debian's modsecurity-crs?)",
            setup.display()
        ));
    }
    std::fs::create_dir_all(&s.work).map_err(|e| format!("{}: {e}", s.work.display()))?;
    let probes = s.work.join(format!("probes-{}.conf", crs.name()));
    let mut p =
        String::from("# Score probes: the PL1 inbound anomaly score as a logged rule id.\n");
    for k in 0..=PROBE_MAX {
        p.push_str(&format!(
            "SecRule {score_var} \"@eq {k}\" \"id:{},phase:2,pass,log,t:none,msg:'score'\"\n",
            PROBE_BASE + k
        ));
    }
    p.push_str(&format!(
        "SecRule {score_var} \"@gt {PROBE_MAX}\" \"id:{},phase:2,pass,log,t:none,msg:'score'\"\n",
        PROBE_BASE + PROBE_MAX + 1
    ));
    std::fs::write(&probes, p).map_err(|e| format!("{}: {e}", probes.display()))?;

    let mut c = String::new();
    let inc = |c: &mut String, p: &Path| c.push_str(&format!("Include {}\n", p.display()));
    inc(&mut c, &s.repo.join("rules/modsecurity-base.conf"));
    inc(&mut c, &s.repo.join("perf/baseline/overrides.conf"));
    inc(&mut c, &setup);
    for b in &before {
        if b.is_file() {
            inc(&mut c, b);
        }
    }
    for f in conf_files(&rules)? {
        if f.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("REQUEST-949"))
        {
            inc(&mut c, &probes);
        }
        inc(&mut c, &f);
    }
    for a in &after {
        if a.is_file() {
            inc(&mut c, a);
        }
    }
    let path = s.work.join(format!("{}.conf", crs.name()));
    std::fs::write(&path, c).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

fn parse_results(out: &[u8]) -> BTreeMap<String, Outcome> {
    let mut m = BTreeMap::new();
    for line in String::from_utf8_lossy(out).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(name) = v.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        let status = v.get("status").and_then(|s| s.as_u64()).unwrap_or(0) as u16;
        let ids = v
            .get("ids")
            .and_then(|i| i.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_u64())
                    .map(|x| x as u32)
                    .collect()
            })
            .unwrap_or_default();
        m.insert(name.to_string(), Outcome { status, ids });
    }
    m
}

/// Runs `reqs` through both engines (concurrently) and returns (spoa-waf, libmodsecurity3)
/// per request, in order.
pub fn run_both(
    s: &Setup,
    conf: &Path,
    reqs: &[Request],
) -> Result<Vec<(Outcome, Outcome)>, String> {
    let corpus = s.work.join(format!("corpus-{}.jsonl", std::process::id()));
    {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?,
        );
        // Named by position, so duplicate names in `reqs` cannot mix results up.
        for (i, r) in reqs.iter().enumerate() {
            let mut r = r.clone();
            r.name = format!("#{i}");
            writeln!(f, "{}", r.to_json()).map_err(|e| e.to_string())?;
        }
        f.flush().map_err(|e| e.to_string())?;
    }
    let ours = Command::new(&s.spoa_waf)
        .arg("check")
        .arg("--rules")
        .arg(conf)
        .arg("--input")
        .arg(&corpus)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", s.spoa_waf.display()))?;
    let theirs = Command::new(&s.modsec_ref)
        .arg(conf)
        .stdin(std::fs::File::open(&corpus).map_err(|e| e.to_string())?)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", s.modsec_ref.display()))?;
    let ours = ours.wait_with_output().map_err(|e| e.to_string())?;
    let theirs = theirs.wait_with_output().map_err(|e| e.to_string())?;
    if !ours.status.success() {
        return Err(format!(
            "spoa-waf check failed: {}",
            String::from_utf8_lossy(&ours.stderr)
        ));
    }
    if !theirs.status.success() {
        return Err(format!(
            "modsec-ref failed: {}",
            String::from_utf8_lossy(&theirs.stderr)
        ));
    }
    let (a, b) = (parse_results(&ours.stdout), parse_results(&theirs.stdout));
    (0..reqs.len())
        .map(|i| {
            let k = format!("#{i}");
            match (a.get(&k), b.get(&k)) {
                (Some(x), Some(y)) => Ok((x.clone(), y.clone())),
                _ => Err(format!("no result for {} from one engine", reqs[i].name)),
            }
        })
        .collect()
}

/// Candidate simplifications of `r`, each one step smaller.
fn shrink_candidates(r: &Request) -> Vec<Request> {
    let mut out = Vec::new();
    let mut push = |mut c: Request| {
        c.fix_content_length();
        if c != *r {
            out.push(c);
        }
    };
    for i in 0..r.headers.len() {
        if r.headers[i].0.eq_ignore_ascii_case("content-length") {
            continue;
        }
        let mut c = r.clone();
        c.headers.remove(i);
        push(c);
    }
    if !r.body.is_empty() {
        let mut c = r.clone();
        c.body.clear();
        push(c);
    }
    if r.method != "GET" && r.body.is_empty() {
        let mut c = r.clone();
        c.method = "GET".into();
        push(c);
    }
    if r.version != "1.1" {
        let mut c = r.clone();
        c.version = "1.1".into();
        push(c);
    }
    let (path, query) = match r.uri.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (r.uri.clone(), None),
    };
    if path != "/" {
        let mut c = r.clone();
        c.uri = match &query {
            Some(q) => format!("/?{q}"),
            None => "/".into(),
        };
        push(c);
    }
    if let Some(q) = &query {
        let mut c = r.clone();
        c.uri = path.clone();
        push(c);
        let parts: Vec<&str> = q.split('&').collect();
        if parts.len() > 1 {
            for i in 0..parts.len() {
                let rest: Vec<&str> = parts
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(_, p)| *p)
                    .collect();
                let mut c = r.clone();
                c.uri = format!("{path}?{}", rest.join("&"));
                push(c);
            }
        }
        for q2 in chunks_removed(q.as_bytes()) {
            if let Ok(q2) = String::from_utf8(q2) {
                let mut c = r.clone();
                c.uri = format!("{path}?{q2}");
                push(c);
            }
        }
    }
    for i in 0..r.headers.len() {
        for v in chunks_removed(r.headers[i].1.as_bytes()) {
            if let Ok(v) = String::from_utf8(v) {
                let mut c = r.clone();
                c.headers[i].1 = v;
                push(c);
            }
        }
    }
    for b in chunks_removed(&r.body) {
        let mut c = r.clone();
        c.body = b;
        push(c);
    }
    out
}

/// `s` with one of its quarters (or halves) removed, for every quarter and half.
fn chunks_removed(s: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if s.len() < 2 {
        return out;
    }
    for parts in [2usize, 4, 8] {
        let n = s.len().div_ceil(parts);
        if n == 0 {
            continue;
        }
        for k in 0..parts {
            let (a, b) = (k * n, ((k + 1) * n).min(s.len()));
            if a >= b {
                continue;
            }
            let mut v = s[..a].to_vec();
            v.extend_from_slice(&s[b..]);
            out.push(v);
        }
    }
    out
}

/// Shrinks `r` while it keeps disagreeing the same way; returns the smallest found.
pub fn minimise(
    s: &Setup,
    conf: &Path,
    r: &Request,
    sig: &Signature,
) -> Result<(Request, Signature), String> {
    let mut best = (r.clone(), sig.clone());
    for _round in 0..60 {
        let mut cands = shrink_candidates(&best.0);
        for (i, c) in cands.iter_mut().enumerate() {
            c.name = format!("min-{i}");
        }
        if cands.is_empty() {
            break;
        }
        let results = run_both(s, conf, &cands)?;
        let next = cands
            .into_iter()
            .zip(results)
            .map(|(c, (a, b))| (c, Signature::of(&a, &b)))
            .filter(|(_, g)| g.same_kind(sig))
            .min_by_key(|(c, _)| c.to_json().len());
        match next {
            Some(n) if n.0.to_json().len() < best.0.to_json().len() => best = n,
            _ => break,
        }
    }
    best.0.name = format!("{}-min", r.name);
    Ok(best)
}

/// One disagreement found.
#[derive(Debug, Clone)]
pub struct Finding {
    pub crs: Crs,
    pub request: Request,
    pub signature: Signature,
    /// The deviations listing it (None: a failure).
    pub explained: Option<Vec<&'static Deviation>>,
    pub minimal: Option<(Request, Signature)>,
}

/// Per-CRS tallies.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub requests: u64,
    pub same_status: u64,
    pub same_ids: u64,
    pub same_score: u64,
    /// Requests libmodsecurity3 blocks (so the run is not all benign).
    pub blocked_ref: u64,
    /// Requests with at least one CRS attack rule (ids 930000+) logged by libmodsecurity3.
    pub attacks_ref: u64,
}

/// What a run found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub tallies: BTreeMap<Crs, Tally>,
    pub findings: Vec<Finding>,
}

impl Finding {
    /// Explained only with the help of a known, open bug of ours.
    pub fn is_open(&self) -> bool {
        self.explained
            .as_ref()
            .is_some_and(|ds| ds.iter().any(|d| OPEN.iter().any(|o| o.name == d.name)))
    }
}

impl Report {
    pub fn unexplained(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.explained.is_none())
    }
    pub fn open(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_open())
    }
}

/// A run's parameters.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub requests: u64,
    pub crs: Vec<Crs>,
    /// Requests per engine invocation.
    pub batch: u64,
    /// How many new kinds of disagreement to minimise (each costs a few engine runs).
    pub minimise: usize,
    /// Progress lines on stderr.
    pub verbose: bool,
}

/// Generates `requests` requests from `seed` and compares both engines on each CRS.
pub fn fuzz(s: &Setup, o: &Options) -> Result<Report, String> {
    let mut report = Report::default();
    for &crs in &o.crs {
        let conf = write_config(s, crs)?;
        let mut tally = Tally::default();
        let mut minimised: BTreeMap<Signature, ()> = BTreeMap::new();
        let mut start = 0;
        while start < o.requests {
            let end = (start + o.batch).min(o.requests);
            let reqs: Vec<Request> = (start..end).map(|i| gen::request(o.seed, i)).collect();
            let results = run_both(s, &conf, &reqs)?;
            for (r, (a, b)) in reqs.into_iter().zip(results) {
                tally.requests += 1;
                tally.same_status += u64::from(a.status == b.status);
                tally.same_ids += u64::from(a.rule_ids() == b.rule_ids());
                tally.same_score += u64::from(a.score() == b.score());
                tally.blocked_ref += u64::from(b.status != 200);
                tally.attacks_ref +=
                    u64::from(b.ids.iter().any(|&i| (930_000..950_000).contains(&i)));
                let sig = Signature::of(&a, &b);
                if sig.is_empty() {
                    continue;
                }
                let explained = sig.explained_by(&[DEVIATIONS, OPEN], &r, &a, &b);
                let mut key = sig.clone();
                key.score = key.score.map(|_| (None, None));
                key.status = key.status.map(|_| (0, 0));
                let minimal = if explained.is_none()
                    && minimised.len() < o.minimise
                    && !minimised.contains_key(&key)
                {
                    minimised.insert(key, ());
                    Some(minimise(s, &conf, &r, &sig)?)
                } else {
                    None
                };
                report.findings.push(Finding {
                    crs,
                    request: r,
                    signature: sig,
                    explained,
                    minimal,
                });
            }
            if o.verbose {
                eprintln!(
                    "difffuzz: {} {end}/{} requests, {} disagreements so far",
                    crs.name(),
                    o.requests,
                    report.findings.iter().filter(|f| f.crs == crs).count()
                );
            }
            start = end;
        }
        report.tallies.insert(crs, tally);
    }
    Ok(report)
}

/// One JSON line describing a finding (for the recorded results and test output).
pub fn finding_json(f: &Finding) -> String {
    let sig = |g: &Signature| {
        serde_json::json!({
            "status": g.status.map(|(a, b)| vec![a, b]),
            "only_spoa_waf": g.only_spoa_waf,
            "only_libmodsecurity": g.only_libmodsecurity,
            "score": g.score.map(|(a, b)| vec![a, b]),
        })
    };
    let mut o = serde_json::json!({
        "crs": f.crs.name(),
        "name": f.request.name,
        "diff": sig(&f.signature),
        "explained_by": f.explained.as_ref().map(|ds| ds.iter().map(|d| d.name).collect::<Vec<_>>()),
        "request": serde_json::from_str::<serde_json::Value>(&f.request.to_json()).unwrap_or_default(),
    });
    if let Some((m, g)) = &f.minimal {
        o["minimal"] = serde_json::from_str::<serde_json::Value>(&m.to_json()).unwrap_or_default();
        o["minimal_diff"] = sig(g);
    }
    o.to_string()
}
