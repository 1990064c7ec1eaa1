//! The fast engine (the compiled plan: grouped Hyperscan scans, scan cache, fast path) decides
//! every request exactly as the reference evaluator (each rule applied literally: its
//! transformations on each value, then PCRE2 or the plain operator) does: same logged ids in
//! the same order, same status, same anomaly score, request by request.
//!
//! Inputs: a bounded sample of every corpus under `bench/corpus/` (every request the fast
//! engine logs anything for, plus an even spread of the rest) and a generated set of requests
//! whose query, form body, cookie and headers are built from CRS-like fragments (evasion
//! gadgets, encodings, command words, SQL and XSS pieces) and random bytes, with CRS 4.28 and
//! CRS 3.3.4 at PL1 (`perf/baseline/crs*.conf.in`). The CRS regression payloads at PL4 are
//! compared in `crs::crs_payloads_reference_agrees`.

use std::path::{Path, PathBuf};

use spoa_waf::corpus::CorpusRequest;
use spoa_waf::engine::{Engine, Evaluator};
use spoa_waf::inspect::{Inspector, Verdict};

use crate::crs4::crs4_engine;

/// Requests per corpus taken besides the ones the fast engine logs (the reference costs up to
/// ~40 ms per 16 KB body in a release build, so the budget is per corpus).
fn sample_size(corpus: &str) -> usize {
    match corpus {
        "post-16k" => 4,
        "post-json" => 15,
        "post-form" => 40,
        _ => 120,
    }
}

fn decision(v: &Verdict) -> (u16, Vec<u32>, i64) {
    (
        v.disruption.as_ref().map_or(200, |d| d.status),
        v.logged_rule_ids.clone(),
        v.anomaly_score,
    )
}

/// Compares both evaluators on `reqs`; returns how many requests were compared and how many
/// of them logged a rule.
fn compare(
    fast: &Engine,
    what: &str,
    reqs: &[CorpusRequest],
    pick: impl Fn(usize) -> bool,
) -> (usize, usize) {
    let reference = fast.clone().with_evaluator(Evaluator::Reference);
    let (mut sf, mut sr) = (fast.new_scratch(), reference.new_scratch());
    let (mut n, mut logged) = (0, 0);
    for (i, r) in reqs.iter().enumerate() {
        let req = r.as_request();
        let a = decision(&fast.inspect_request(&mut sf, &req));
        if !(pick(i) || a.0 != 200 || !a.1.is_empty()) {
            continue;
        }
        let b = decision(&reference.inspect_request(&mut sr, &req));
        assert_eq!(
            a, b,
            "{what}: request {} ({}): fast (status, ids, score) vs reference",
            i, r.name
        );
        n += 1;
        logged += usize::from(!b.1.is_empty());
    }
    (n, logged)
}

fn corpus(name: &str) -> Vec<CorpusRequest> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bench/corpus")
        .join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    CorpusRequest::parse_all(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const CORPORA: [&str; 6] = [
    "get",
    "post-form",
    "post-json",
    "multipart",
    "mix",
    "post-16k",
];

/// CRS-like pieces: RCE evasion gadgets and command words, SQL, XSS, traversal, encodings.
const FRAGMENTS: &[&str] = &[
    "cat",
    "/etc/passwd",
    ";",
    "|",
    "||",
    "&&",
    "$(",
    ")",
    "`",
    "${IFS}",
    "'",
    "\"",
    "\\",
    "[",
    "]",
    "$",
    "c'a't",
    "c\\at",
    "w$@get",
    "busybox",
    "env",
    "eval",
    "exec",
    "python3 -c",
    "nc -e /bin/sh",
    "curl http://x/",
    "wget",
    "/bin/bash",
    "ps aux",
    "uname -a",
    "id",
    "whoami",
    "' or 1=1--",
    "\" or \"\"=\"",
    "union select",
    "UNION ALL SELECT",
    "sleep(5)",
    "benchmark(",
    "1;drop table users",
    "/*!50000",
    "*/",
    "--",
    "#",
    "0x41",
    "char(",
    "<script>",
    "</script>",
    "<img src=x onerror=alert(1)>",
    "javascript:",
    "onload=",
    "&lt;",
    "&#x3c;",
    "&#60;",
    "%3c",
    "%3C",
    "%27",
    "%2e%2e%2f",
    "%00",
    "%u003c",
    "%c0%af",
    "+",
    "../",
    "..\\",
    "\\x3c",
    "\\u003c",
    "<?php",
    "system(",
    "phpinfo()",
    "${jndi:ldap://",
    "{{7*7}}",
    "@{",
    "<!--",
    "-->",
    "SELECT",
    "FROM",
    "WHERE",
    "ORDER BY",
    "a",
    "hello",
    "world",
    "user",
    "name=",
    "=",
    "&",
    "?",
    "/",
    ".",
    "  ",
    "\t",
    "\r\n",
    "AbC",
    "ÿ",
    "é",
];

/// A tiny deterministic generator (xorshift64*): the set is the same on every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// A value of up to `max` pieces: fragments, random bytes, percent-encoded random bytes.
    fn value(&mut self, max: usize) -> String {
        let mut s = String::new();
        for _ in 0..1 + self.below(max) {
            match self.below(10) {
                0 => s.push(char::from(0x20 + self.below(0x5f) as u8)),
                1 => s.push_str(&format!("%{:02x}", self.below(256))),
                _ => s.push_str(FRAGMENTS[self.below(FRAGMENTS.len())]),
            }
        }
        s
    }
}

fn pct(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~%+".contains(&b) {
            o.push(char::from(b));
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// `n` generated requests (JSON lines of the corpus format, so they go through the same
/// parser as the corpora).
fn generated(seed: u64, n: usize) -> Vec<CorpusRequest> {
    let mut g = Gen(seed | 1);
    let mut out = Vec::new();
    for i in 0..n {
        let args: Vec<String> = (0..1 + g.below(4))
            .map(|_| {
                let name = if g.below(4) == 0 {
                    g.value(2)
                } else {
                    "q".to_string()
                };
                // Half raw (the request carries the bytes), half percent-encoded.
                let v = g.value(6);
                let v = if g.below(2) == 0 {
                    pct(&v)
                } else {
                    v.replace(['&', '#', ' '], "+")
                };
                format!("{}={v}", pct(&name))
            })
            .collect();
        let query = args.join("&");
        let post = g.below(3) == 0;
        let mut headers = vec![
            ("Host".to_string(), "example.com".to_string()),
            (
                "User-Agent".to_string(),
                format!("Mozilla/5.0 {}", g.value(2).replace(['\r', '\n'], "")),
            ),
            ("Accept".to_string(), "*/*".to_string()),
        ];
        if g.below(3) == 0 {
            headers.push(("Cookie".to_string(), format!("sid={}", pct(&g.value(3)))));
        }
        if g.below(5) == 0 {
            headers.push((
                "Referer".to_string(),
                format!("http://example.com/{}", pct(&g.value(3))),
            ));
        }
        let body = if post {
            headers.push((
                "Content-Type".to_string(),
                "application/x-www-form-urlencoded".to_string(),
            ));
            query.clone()
        } else {
            String::new()
        };
        let line = serde_json::json!({
            "name": format!("gen-{i}"),
            "method": if post { "POST" } else { "GET" },
            "uri": if post { format!("/p/{}", pct(&g.value(1))) } else { format!("/s?{query}") },
            "version": "1.1",
            "headers": headers,
            "body": body,
        });
        out.push(CorpusRequest::parse(&line.to_string(), i + 1).unwrap_or_else(|e| panic!("{e}")));
    }
    out
}

fn check_engine(engine: &Engine, rules: &str) {
    let mut total = 0;
    for c in CORPORA {
        let reqs = corpus(c);
        let step = (reqs.len() / sample_size(c)).max(1);
        total += compare(engine, &format!("{rules} {c}"), &reqs, |i| i % step == 0).0;
    }
    let gen = generated(0x0005_eed0_fc75, 400);
    let (n, logged) = compare(engine, &format!("{rules} generated"), &gen, |_| true);
    println!(
        "{rules}: fast = reference on {} requests ({n} generated, {logged} of them logged rules)",
        total + n
    );
    // The generated set must reach the rules, or it proves nothing about them.
    assert!(
        logged * 4 >= n,
        "{rules}: only {logged} of {n} generated requests logged a rule"
    );
}

#[test]
fn reference_agrees_crs4() {
    if let Some(engine) = crs4_engine("reference_agrees_crs4") {
        check_engine(&engine, "CRS 4.28");
    }
}

#[test]
fn reference_agrees_crs3() {
    // Debian's CRS 3.3.4 (tests/setup-debian.sh installs it).
    let crs3 = Path::new("/usr/share/modsecurity-crs/rules");
    if !crs3.is_dir() {
        println!(
            "skipped: {} not found (Debian's modsecurity-crs)",
            crs3.display()
        );
        return;
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bl = repo.join("perf/baseline");
    let text = std::fs::read_to_string(bl.join("crs3.conf.in"))
        .unwrap()
        .replace("@HERE@", &bl.display().to_string())
        .replace("@REPO@", &repo.display().to_string());
    let conf =
        std::env::temp_dir().join(format!("spoa-waf-reference3-{}.conf", std::process::id()));
    std::fs::write(&conf, text).unwrap();
    let engine = Engine::from_file(&conf).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_file(&conf);
    check_engine(&engine, "CRS 3.3.4");
}

/// `spoa-waf check --engine reference` prints what `check` (the fast engine) prints.
#[test]
fn check_engine_reference_flag() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let Some(crs) = crate::crs4::crs_or_skip("v4.28.0", "check_engine_reference_flag") else {
        return;
    };
    let bl = repo.join("perf/baseline");
    let text = std::fs::read_to_string(bl.join("crs4.conf.in"))
        .unwrap()
        .replace("@HERE@", &bl.display().to_string())
        .replace("@REPO@", &repo.display().to_string())
        .replace("@CRS4@", &crs.display().to_string());
    let dir = std::env::temp_dir().join(format!("spoa-waf-reference-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("crs4.conf");
    std::fs::write(&conf, text).unwrap();
    // The attacks of the mixed corpus and some benign requests around them.
    let mix = std::fs::read_to_string(repo.join("bench/corpus/mix.jsonl")).unwrap();
    let lines: Vec<&str> = mix.lines().filter(|l| !l.is_empty()).take(120).collect();
    let input = dir.join("in.jsonl");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let run = |engine: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_spoa-waf"))
            .args(["check", "--engine", engine, "--rules"])
            .arg(&conf)
            .arg("--input")
            .arg(&input)
            .output()
            .expect("run spoa-waf check");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let (fast, reference) = (run("fast"), run("reference"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(fast.lines().count(), lines.len());
    assert!(fast.contains("\"status\":403"), "the sample holds attacks");
    assert_eq!(fast, reference);
}
