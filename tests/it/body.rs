//! Body processors against the CRS v4.28 regression corpus: every JSON, XML and multipart
//! request body in the tests must be accepted or rejected (REQBODY_ERROR) exactly as
//! libmodsecurity3 3.0.9 did when the same bodies were fed to it (recorded below).

use std::collections::BTreeSet;
use std::path::Path;

use serde_yaml::Value;
use spoa_waf::body::{json, multipart, xml};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Json,
    Xml,
    Multipart,
}

/// The processor ModSecurity's recommended base rules (200000/200001) or the engine itself
/// (multipart) would pick for a Content-Type.
fn kind_of(ct: &str) -> Option<Kind> {
    let l = ct.to_ascii_lowercase();
    if l.starts_with("multipart/form-data") {
        Some(Kind::Multipart)
    } else if l.starts_with("application/json") {
        Some(Kind::Json)
    } else if ["application/xml", "application/soap+xml", "text/xml"]
        .iter()
        .any(|p| l.starts_with(p))
    {
        Some(Kind::Xml)
    } else {
        None
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml") {
            out.push(p);
        }
    }
}

/// (kind, "file:test_id") of every stage body that the processor rejects, and counts per kind.
fn run_corpus(crs: &std::path::Path) -> (BTreeSet<(Kind, String)>, [usize; 3]) {
    let root = crs.join("tests/regression/tests");
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    files.sort();
    let mut rejected = BTreeSet::new();
    let mut counts = [0; 3];
    for f in files {
        let Ok(doc) = serde_yaml::from_str::<Value>(&std::fs::read_to_string(&f).unwrap()) else {
            continue;
        };
        let file = f.file_name().unwrap().to_string_lossy().into_owned();
        for test in doc["tests"].as_sequence().into_iter().flatten() {
            let id = test["test_id"].as_u64().unwrap_or(0);
            for stage in test["stages"].as_sequence().into_iter().flatten() {
                let input = &stage["input"];
                let Some(data) = input["data"].as_str() else {
                    continue;
                };
                let ct = input["headers"]
                    .as_mapping()
                    .into_iter()
                    .flatten()
                    .find(|(k, _)| {
                        k.as_str()
                            .is_some_and(|k| k.eq_ignore_ascii_case("content-type"))
                    })
                    .and_then(|(_, v)| v.as_str())
                    .unwrap_or("");
                let Some(kind) = kind_of(ct) else {
                    continue;
                };
                counts[kind as usize] += 1;
                let failed = match kind {
                    Kind::Json => {
                        json::parse(data.as_bytes(), json::DEFAULT_DEPTH_LIMIT, &mut Vec::new())
                            .is_err()
                    }
                    Kind::Xml => xml::parse(data.as_bytes()).is_err(),
                    Kind::Multipart => {
                        // As sent to the reference: line ends made CRLF.
                        let body = data.replace("\r\n", "\n").replace('\n', "\r\n");
                        multipart::parse(ct.as_bytes(), body.as_bytes())
                            .error
                            .is_some()
                    }
                };
                if failed {
                    rejected.insert((kind, format!("{file}:{id}")));
                }
            }
        }
    }
    (rejected, counts)
}

#[test]
fn crs_v4_bodies_rejected_exactly_as_libmodsecurity() {
    let test = "crs_v4_bodies_rejected_exactly_as_libmodsecurity";
    let Some(crs) = crate::crs4::crs_or_skip("v4.28.0", test) else {
        return;
    };
    let (rejected, counts) = run_corpus(&crs);
    // Every processor saw a meaningful share of the corpus.
    assert!(
        counts.iter().all(|&n| n > 100),
        "bodies per kind: {counts:?}"
    );
    let want: BTreeSet<(Kind, String)> = [
        (Kind::Json, "920420.yaml:9"),
        (Kind::Xml, "920240.yaml:4"),
        (Kind::Xml, "920420.yaml:10"),
        (Kind::Multipart, "920120.yaml:39"),
        (Kind::Multipart, "920400.yaml:1"),
        (Kind::Multipart, "920400.yaml:2"),
        (Kind::Multipart, "922130.yaml:5"),
        (Kind::Multipart, "922130.yaml:8"),
        (Kind::Multipart, "932180.yaml:3"),
    ]
    .into_iter()
    .map(|(k, s)| (k, s.to_string()))
    .collect();
    assert_eq!(rejected, want);
}
