//! The audit log against libmodsecurity3 itself: the same rules and requests through
//! libmodsecurity3 3.0.9 (the reference driver, `shared/tools/modsec-ref`, which with
//! `SecAuditEngine` in its configuration writes libmodsecurity3's own audit log) and through
//! the engine; the records must agree request by request in which requests are audited, in
//! keys and types, and in messages with their rule details. What differs on purpose is listed
//! in [`DELIBERATE`] and in ARCHITECTURE.md ("Audit log").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use spoa_waf::corpus::CorpusRequest;
use spoa_waf::engine::Engine;
use spoa_waf::inspect::{HeaderBlock, HttpRequest, Inspector};

use crate::engine::shared_dir;
use crate::util::{repo_root, temp_dir};

/// Values that differ from libmodsecurity3 on purpose (paths into `transaction`), and why.
pub const DELIBERATE: &[(&str, &str)] = &[
    ("time_stamp", "the time of each run"),
    (
        "unique_id",
        "libmodsecurity3 makes its own; the agent uses HAProxy's unique-id or makes one",
    ),
    (
        "server_id",
        "a hash of the host name; libmodsecurity3 hashes other inputs",
    ),
    (
        "producer.modsecurity",
        "names spoa-waf and its version, not libmodsecurity3",
    ),
    (
        "producer.connector",
        "spoa-waf instead of the driver's connector name",
    ),
    (
        "messages.details.reference",
        "libmodsecurity3's match offsets (`o0,6v10,6`) are not tracked: always empty",
    ),
    (
        "response.http_code",
        "for a disrupted request: the status the agent tells HAProxy to answer with; \
         libmodsecurity3 without a response reports 200",
    ),
];

/// Requests the agent audits and libmodsecurity3 (without a response) does not: a disruption
/// with `nolog` is relevant here, because HAProxy answers it with the deny status, which a
/// connector in front of libmodsecurity3 would have reported as the response status.
const AUDITED_ONLY_HERE: &[&str] = &["silent-deny"];

/// Builds the reference driver once per test binary (into `target/`); `None` with a printed
/// reason when libmodsecurity3's headers or a C++ compiler are missing.
pub fn modsec_ref() -> Option<PathBuf> {
    static BUILT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_modsec_ref).clone()
}

fn build_modsec_ref() -> Option<PathBuf> {
    let src = shared_dir().join("tools/modsec-ref/modsec_ref.cc");
    let out = repo_root().join("target/modsec-ref-audit");
    if out.exists()
        && std::fs::metadata(&out).and_then(|m| m.modified()).ok()
            >= std::fs::metadata(&src).and_then(|m| m.modified()).ok()
    {
        return Some(out);
    }
    if !Path::new("/usr/include/modsecurity/modsecurity.h").exists() {
        eprintln!("SKIP: libmodsecurity-dev is not installed (tests/setup-debian.sh installs it)");
        return None;
    }
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let st = Command::new("g++")
        .args(["-O1", "-std=c++17", "-o"])
        .arg(&tmp)
        .arg(&src)
        .arg("-lmodsecurity")
        .status();
    match st {
        Ok(s) if s.success() => {
            std::fs::rename(&tmp, &out).ok()?;
            Some(out)
        }
        other => {
            eprintln!("SKIP: cannot build modsec-ref with g++: {other:?}");
            None
        }
    }
}

fn write_conf(dir: &Path, log: &Path, format: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo_root().join("tests/data/audit/rules.conf.in"))
        .unwrap()
        .replace("@LOG@", log.to_str().unwrap())
        .replace("@FORMAT@", format);
    let p = dir.join(format!("rules-{format}.conf"));
    std::fs::write(&p, text).unwrap();
    p
}

fn corpus() -> (String, Vec<CorpusRequest>) {
    let text = std::fs::read_to_string(repo_root().join("tests/data/audit/corpus.jsonl")).unwrap();
    let reqs = CorpusRequest::parse_all(&text).unwrap();
    (text, reqs)
}

/// Runs the reference and returns its audit log's text.
fn reference(driver: &Path, dir: &Path, format: &str, corpus_text: &str) -> String {
    let log = dir.join(format!("ref-{format}.log"));
    let conf = write_conf(dir, &log, format);
    let mut child = Command::new(driver)
        .arg(&conf)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(corpus_text.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    std::fs::read_to_string(&log).unwrap_or_default()
}

/// Runs the engine on the same requests (addresses as the driver gives them:
/// client 127.0.0.1:40000, server 127.0.0.1:80, headers with their case) and renders what it
/// audits, by request name.
fn ours(dir: &Path, format: &str, reqs: &[CorpusRequest]) -> Vec<(String, Vec<u8>)> {
    let log = dir.join(format!("ours-{format}.log"));
    let conf = write_conf(dir, &log, format);
    let engine = Engine::from_file(&conf).unwrap();
    let mut scratch = engine.new_scratch();
    let mut out = Vec::new();
    for r in reqs {
        let hdrs = r.hdrs_text();
        let req = HttpRequest {
            unique_id: None,
            headers: HeaderBlock::Text(&hdrs),
            client: Some((r.src, 40000)),
            server: Some(("127.0.0.1".parse().unwrap(), 80)),
            ..r.as_request()
        };
        let v = engine.inspect_request(&mut scratch, &req);
        if let Some(rec) = v.audit {
            let bytes = if format == "JSON" {
                rec.to_json()
            } else {
                rec.to_native("abcdEFGH")
            };
            out.push((r.name.clone(), bytes));
        }
    }
    out
}

/// Request name of a JSON record: its URI and method identify it in this corpus.
fn key_of(t: &Value) -> String {
    format!(
        "{} {} {}",
        t["request"]["method"], t["request"]["uri"], t["request"]["http_version"]
    )
}

/// The shape of a JSON value: object keys in order with their shapes, array element shapes,
/// and type names for scalars.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Array(
            m.iter()
                .map(|(k, v)| Value::Array(vec![Value::String(k.clone()), shape(v)]))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Null => "null".into(),
    }
}

/// Blanks `path` (dot-separated; arrays on the way are walked element by element).
fn blank(v: &mut Value, path: &[&str]) {
    match (v, path) {
        (Value::Array(a), _) => a.iter_mut().for_each(|e| blank(e, path)),
        (Value::Object(m), [k]) => {
            if let Some(x) = m.get_mut(*k) {
                *x = Value::String(String::new());
            }
        }
        (Value::Object(m), [k, rest @ ..]) => {
            if let Some(x) = m.get_mut(*k) {
                blank(x, rest);
            }
        }
        _ => {}
    }
}

/// Blanks the deliberate differences (all but `response.http_code`, which differs only for
/// disrupted requests and is checked there) so the rest can be compared for equality.
fn normalized(mut t: Value) -> Value {
    for (path, _why) in DELIBERATE {
        if *path != "response.http_code" {
            blank(&mut t, &path.split('.').collect::<Vec<_>>());
        }
    }
    t
}

#[test]
fn json_records_agree_with_libmodsecurity3() {
    let Some(driver) = modsec_ref() else { return };
    let dir = temp_dir("audit-json");
    let (text, reqs) = corpus();
    let theirs: Vec<Value> = reference(&driver, &dir, "JSON", &text)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["transaction"].clone())
        .collect();
    let mine: Vec<(String, Value)> = ours(&dir, "JSON", &reqs)
        .into_iter()
        .map(|(n, b)| {
            assert_eq!(
                b.iter().filter(|&&c| c == b'\n').count(),
                1,
                "one line per record"
            );
            (
                n,
                serde_json::from_slice::<Value>(&b).unwrap()["transaction"].clone(),
            )
        })
        .collect();
    let by_key: BTreeMap<String, &Value> = theirs.iter().map(|t| (key_of(t), t)).collect();
    assert_eq!(
        by_key.len(),
        theirs.len(),
        "corpus requests must be distinguishable"
    );
    let mut compared = 0;
    for (name, t) in &mine {
        let Some(r) = by_key.get(&key_of(t)) else {
            assert!(
                AUDITED_ONLY_HERE.contains(&name.as_str()),
                "{name}: audited here but not by libmodsecurity3:\n{t:#}"
            );
            continue;
        };
        assert_eq!(shape(t), shape(r), "{name}: keys and types differ");
        let (mut t, r) = (normalized(t.clone()), normalized((*r).clone()));
        if let Some(code) = t["response"].get_mut("http_code") {
            // Deliberate: a disrupted request reports its deny status.
            if name.starts_with("deny") {
                assert_eq!(*code, 403);
                *code = r["response"]["http_code"].clone();
            }
        }
        assert_eq!(t, r, "{name}: records differ");
        compared += 1;
    }
    assert_eq!(
        compared,
        theirs.len(),
        "every request libmodsecurity3 audits is audited here"
    );
    // The corpus reaches the interesting cases: several audited, several not.
    assert!(compared >= 9 && compared + 4 <= reqs.len(), "{compared}");
}

/// Native records: the same sections in the same order, the same part-A fields and the same
/// messages (rule ids) as libmodsecurity3's.
#[test]
fn native_records_agree_with_libmodsecurity3() {
    let Some(driver) = modsec_ref() else { return };
    let dir = temp_dir("audit-native");
    let (text, reqs) = corpus();
    let theirs = reference(&driver, &dir, "Native", &text);
    let mine = ours(&dir, "Native", &reqs);
    // Split the reference into records at part A.
    let mut records: Vec<Vec<&str>> = Vec::new();
    for line in theirs.lines() {
        if line.starts_with("---") && line.ends_with("---A--") {
            records.push(Vec::new());
        }
        if let Some(r) = records.last_mut() {
            r.push(line);
        }
    }
    let summary = |lines: &[&str]| {
        let sections: String = lines
            .iter()
            .filter(|l| l.starts_with("---") && l.ends_with("--") && l.len() > 8)
            .map(|l| &l[l.len() - 3..l.len() - 2])
            .collect();
        let a_fields = lines.get(1).map_or(0, |l| l.split(' ').count());
        let request_line = if sections.contains('B') { lines[3] } else { "" };
        let ids: Vec<String> = lines
            .iter()
            .filter(|l| l.starts_with("ModSecurity: "))
            .filter_map(|l| l.split("[id \"").nth(1))
            .map(|s| s.split('"').next().unwrap_or("").to_string())
            .collect();
        (sections, a_fields, request_line.to_string(), ids)
    };
    let mine: Vec<(String, String)> = mine
        .into_iter()
        .filter(|(n, _)| !AUDITED_ONLY_HERE.contains(&n.as_str()))
        .map(|(n, b)| (n, String::from_utf8(b).unwrap()))
        .collect();
    assert_eq!(mine.len(), records.len());
    for ((name, text), theirs) in mine.iter().zip(&records) {
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(summary(&lines), summary(theirs), "{name}");
    }
}
