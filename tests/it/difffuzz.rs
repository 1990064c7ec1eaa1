//! The differential fuzzer's bounded run, and one test per deliberate deviation.
//!
//! `difffuzz_bounded_run_*`: generated requests (seeded, `spoa-waf-difffuzz::gen`) through the
//! real `spoa-waf check` and through libmodsecurity3 3.0.9 (`modsec-ref`, built here with g++)
//! on CRS 4.28 and 3.3.4; any disagreement in verdict, rule ids or anomaly score that is not a
//! listed deviation fails, printed with its minimised reproduction. `DIFFFUZZ_REQUESTS` and
//! `DIFFFUZZ_SEED` change the size and seed (the `difffuzz` binary is the long mode).
//!
//! `deviation_*`: each deliberate deviation's smallest reproduction through both engines, with
//! a few-line configuration, showing exactly the behaviour the list says we do not copy.
//! Everything skips with a printed reason where libmodsecurity3, g++ or the CRS files are missing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use spoa_waf_difffuzz::gen::Request;
use spoa_waf_difffuzz::{
    build_modsec_ref, find_shared, fuzz, run_both, write_config, Crs, Options, Outcome, Setup,
    Signature, DEVIATIONS, OPEN,
};

use crate::util::repo_root;

/// modsec-ref, built once per test binary (None: why not).
fn modsec_ref() -> Result<PathBuf, String> {
    static REF: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    REF.get_or_init(|| {
        let shared = find_shared(&repo_root()).ok_or("shared/crs/v4.28.0 not found")?;
        build_modsec_ref(
            &shared,
            &Path::new(env!("CARGO_TARGET_TMPDIR")).join("modsec-ref"),
        )
    })
    .clone()
}

/// A Setup with its own scratch directory, or the reason to skip.
fn setup(tag: &str) -> Result<Setup, String> {
    let repo = repo_root();
    let shared = find_shared(&repo).ok_or("shared/crs/v4.28.0 not found")?;
    let modsec_ref = modsec_ref()?;
    let work = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("difffuzz-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    Ok(Setup {
        repo,
        shared,
        spoa_waf: PathBuf::from(env!("CARGO_BIN_EXE_spoa-waf")),
        modsec_ref,
        work,
    })
}

macro_rules! setup_or_skip {
    ($tag:expr) => {
        match setup($tag) {
            Ok(s) => s,
            Err(why) => {
                println!("skipped: {why}");
                return;
            }
        }
    };
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bounded(crs: Crs) {
    let s = setup_or_skip!(crs.name());
    if crs == Crs::V3 && !Path::new("/etc/modsecurity/crs/crs-setup.conf").is_file() {
        println!("skipped: Debian's modsecurity-crs (CRS 3.3.4) is not installed");
        return;
    }
    // Sized for CI: modsec-ref runs these attack-heavy requests at a few hundred per second on
    // one core, and spoa-waf check runs beside it (see difffuzz/README.md).
    let o = Options {
        seed: env_u64("DIFFFUZZ_SEED", 20_261_204),
        requests: env_u64("DIFFFUZZ_REQUESTS", 3_000),
        crs: vec![crs],
        batch: 3_000,
        minimise: 5,
        verbose: false,
    };
    let report = fuzz(&s, &o).expect("both engines run");
    let _ = std::fs::remove_dir_all(&s.work);
    let t = &report.tallies[&crs];
    let pct = |n: u64| 100.0 * n as f64 / t.requests.max(1) as f64;
    println!(
        "{}: seed {} requests {} | same status {:.3} % | same rule ids {:.3} % | same score {:.3} % | libmodsecurity3 blocks {}, logs an attack rule on {}",
        crs.name(),
        o.seed,
        t.requests,
        pct(t.same_status),
        pct(t.same_ids),
        pct(t.same_score),
        t.blocked_ref,
        t.attacks_ref
    );
    let mut by: std::collections::BTreeMap<&str, usize> = Default::default();
    for f in &report.findings {
        for d in f.explained.iter().flatten() {
            *by.entry(d.name).or_default() += 1;
        }
    }
    for (k, n) in &by {
        println!("  listed: {n:5} {k}");
    }
    let bad: Vec<String> = report
        .unexplained()
        .map(spoa_waf_difffuzz::finding_json)
        .collect();
    for b in bad.iter().take(10) {
        println!("NOT LISTED: {b}");
    }
    assert!(
        t.requests == o.requests && t.attacks_ref > t.requests / 4 && t.blocked_ref < t.requests,
        "the generated requests must mix attacks and passes: {t:?}"
    );
    assert!(
        bad.is_empty(),
        "{} disagreements with libmodsecurity3 not listed as deliberate (seed {}):\n{}",
        bad.len(),
        o.seed,
        bad.join("\n")
    );
}

#[test]
fn difffuzz_bounded_run_crs4() {
    bounded(Crs::V4);
}

#[test]
fn difffuzz_bounded_run_crs3() {
    bounded(Crs::V3);
}

fn req(uri: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
    let mut r = Request {
        name: format!("r-{uri}"),
        method: if body.is_empty() { "GET" } else { "POST" }.into(),
        uri: uri.into(),
        version: "1.1".into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.to_vec(),
    };
    r.fix_content_length();
    r
}

/// (spoa-waf, libmodsecurity3) for each request under a small configuration.
fn both(s: &Setup, conf: &str, reqs: &[Request]) -> Vec<(Outcome, Outcome)> {
    let path = s.work.join("deviation.conf");
    std::fs::write(&path, conf).unwrap();
    let r = run_both(s, &path, reqs).expect("both engines run");
    let _ = std::fs::remove_dir_all(&s.work);
    r
}

fn has(o: &Outcome, id: u32) -> bool {
    o.ids.contains(&id)
}

const HOST: (&str, &str) = ("Host", "example.com");

#[test]
fn deviation_noauditlog_silences_log() {
    let s = setup_or_skip!("noauditlog");
    let r = both(
        &s,
        "SecRuleEngine On\n\
         SecAction \"id:1,phase:2,pass,log,msg:'a'\"\n\
         SecAction \"id:2,phase:2,pass,log,noauditlog,msg:'b'\"\n\
         SecAction \"id:3,phase:2,pass,log,msg:'c'\"\n",
        &[req("/", &[HOST], b"")],
    );
    let (ours, theirs) = &r[0];
    assert!(has(ours, 1) && has(ours, 2) && has(ours, 3), "{r:?}");
    assert!(has(theirs, 1) && !has(theirs, 2) && has(theirs, 3), "{r:?}");
}

#[test]
fn deviation_matched_vars_not_cleared() {
    let s = setup_or_skip!("matchedvars");
    let r = both(
        &s,
        "SecRuleEngine On\n\
         SecRule ARGS_NAMES \"@rx a\" \"id:1,phase:1,pass,log\"\n\
         SecRule ARGS_NAMES \"@rx a\" \"id:2,phase:1,pass,log,chain\"\n\
         \x20 SecRule MATCHED_VARS \"@rx a\" \"setvar:tx.x=+1\"\n\
         SecRule TX:x \"@eq 1\" \"id:11,phase:1,pass,log\"\n\
         SecRule TX:x \"@eq 2\" \"id:12,phase:1,pass,log\"\n",
        &[req("/?a=1", &[HOST], b"")],
    );
    let (ours, theirs) = &r[0];
    assert!(has(ours, 2) && has(ours, 11) && !has(ours, 12), "{ours:?}");
    assert!(has(theirs, 2) && has(theirs, 12), "{theirs:?}");
}

#[test]
fn deviation_pm_misses_overlapping_match() {
    let s = setup_or_skip!("pm");
    let r = both(
        &s,
        "SecRuleEngine On\n\
         SecRule REQUEST_FILENAME \"@pm .git/ node_modules/.cache/ login.sql\" \"id:1,phase:1,pass,log\"\n",
        &[
            req("/login.git/config", &[HOST], b""),
            req("/x/.git/config", &[HOST], b""),
        ],
    );
    assert!(has(&r[0].0, 1) && !has(&r[0].1, 1), "{r:?}");
    // Without the overlapping partial match both find it.
    assert!(has(&r[1].0, 1) && has(&r[1].1, 1), "{r:?}");
}

#[test]
fn deviation_encoded_question_mark_ends_filename() {
    let s = setup_or_skip!("qmark");
    let r = both(
        &s,
        "SecRuleEngine On\n\
         SecRule REQUEST_BASENAME \"@rx \\.old$\" \"id:1,phase:1,pass,log\"\n\
         SecRule REQUEST_FILENAME \"@streq /a\" \"id:2,phase:1,pass,log\"\n",
        &[
            req("/a%3Fb.old", &[HOST], b""),
            req("/ab.old", &[HOST], b""),
        ],
    );
    let (ours, theirs) = &r[0];
    assert!(has(ours, 1) && !has(ours, 2), "{ours:?}");
    assert!(!has(theirs, 1) && has(theirs, 2), "{theirs:?}");
    assert!(has(&r[1].0, 1) && has(&r[1].1, 1), "{r:?}");
}

#[test]
fn deviation_request_body_only_for_urlencoded() {
    let s = setup_or_skip!("reqbody");
    let mp = b"--X\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\njava.lang.Runtime\r\n--X--\r\n";
    let r = both(
        &s,
        "SecRuleEngine On\n\
         SecRequestBodyAccess On\n\
         SecRule REQUEST_BODY \"@rx java\\.lang\" \"id:1,phase:2,pass,log\"\n",
        &[
            req(
                "/",
                &[HOST, ("Content-Type", "multipart/form-data; boundary=X")],
                mp,
            ),
            req(
                "/",
                &[HOST, ("Content-Type", "application/x-www-form-urlencoded")],
                b"a=java.lang.Runtime",
            ),
        ],
    );
    assert!(!has(&r[0].0, 1) && has(&r[0].1, 1), "{r:?}");
    assert!(has(&r[1].0, 1) && has(&r[1].1, 1), "{r:?}");
}

/// Found by the fuzzer and fixed in `eval::request`: an origin-form path with a `://` in a
/// later segment was taken for an absolute-form target and lost its first segments (CRS 920440
/// missed `.mdb` in `//httP://EVil.%45%58a%4DpL%45%2F.mdb`). Now both engines agree.
#[test]
fn fixed_origin_form_path_keeps_its_segments() {
    let s = setup_or_skip!("originform");
    let r = both(
        &s,
        "SecRuleEngine On\n\
         SecRule REQUEST_FILENAME \"@streq /x//y://z/a\" \"id:1,phase:1,pass,log,msg:'f'\"\n\
         SecRule REQUEST_BASENAME \"@streq .mdb\" \"id:2,phase:1,pass,log,msg:'b'\"\n",
        &[
            req("/x//y://z/a", &[HOST], b""),
            req("//httP://EVil.%45%58a%4DpL%45%2F.mdb", &[HOST], b""),
        ],
    );
    for (ours, theirs) in &r {
        assert_eq!(ours, theirs, "{r:?}");
    }
    assert!(has(&r[0].0, 1) && has(&r[1].0, 2), "{r:?}");
}

/// The minimal CRS reproductions the fuzzer found, each explained by exactly its deviation.
#[test]
fn deviations_explain_their_crs4_reproductions() {
    let s = setup_or_skip!("crs4-repros");
    let conf = write_config(&s, Crs::V4).expect("config");
    let mp = b"--X\r\nContent-Disposition: form-data; name=\"user\"; filename=\"report.txt\"\r\nContent-Type: application/octet-stream\r\n\r\njava.lang.Runtime.getRuntime().exec(\"id\")\r\n--X--\r\n";
    let ua = ("User-Agent", "Mozilla/5.0");
    let acc = ("Accept", "*/*");
    let cases: Vec<(&str, Request)> = vec![
        (
            "noauditlog-silences-log",
            req("/", &[("Host", "5"), ua, acc], b""),
        ),
        (
            "matched-vars-not-cleared",
            req("/?JAVA.LANG.PROCESSBUILDER", &[HOST, ua, acc], b""),
        ),
        (
            "pm-misses-overlapping-match",
            req("/login.git/config", &[HOST, ua, acc], b""),
        ),
        (
            "encoded-question-mark-ends-filename",
            req("/x%3Fy.old", &[HOST, ua, acc], b""),
        ),
        (
            "request-body-only-for-urlencoded",
            req(
                "/",
                &[
                    HOST,
                    ua,
                    acc,
                    ("Content-Type", "multipart/form-data; boundary=X"),
                ],
                mp,
            ),
        ),
        (
            "matched-vars-not-cleared",
            Request {
                method: "PATCH".into(),
                ..req(
                    "/?t:java.laRuntime%7",
                    &[HOST, ua, acc],
                    b"InvokerTransformer",
                )
            },
        ),
        (
            "libinjectionrs-sqli",
            req("/?0inTO%20ouTFIle'/T", &[HOST, ua, acc], b""),
        ),
    ];
    let reqs: Vec<Request> = cases.iter().map(|(_, r)| r.clone()).collect();
    let results = run_both(&s, &conf, &reqs).expect("both engines run");
    let _ = std::fs::remove_dir_all(&s.work);
    for ((name, r), (ours, theirs)) in cases.iter().zip(&results) {
        let sig = Signature::of(ours, theirs);
        assert!(!sig.is_empty(), "{name}: the engines agree on {r:?}");
        let by = sig
            .explained_by(&[DEVIATIONS, OPEN], r, ours, theirs)
            .unwrap_or_else(|| panic!("{name}: not explained: {sig:?}"));
        let names: Vec<&str> = by.iter().map(|d| d.name).collect();
        assert!(
            names.contains(name),
            "{name}: explained by {names:?}: {sig:?}"
        );
    }
}
