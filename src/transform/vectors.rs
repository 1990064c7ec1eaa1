//! Data-driven tests: `tests/data/transform/*.json`, vectors confirmed against libmodsecurity3.
//!
//! Each file is `{"transformation": NAME, "unicode_map"?: {"file", "code_page"},
//! "cases": [{"in": S, "out": S}, …]}` where every
//! character of S is one byte (U+0000–U+00FF), so binary values stay readable JSON. The
//! vectors were produced by `tests/data/transform/oracle/gen_vectors.py`, which runs
//! libmodsecurity3's own transformation code; this test never generates expectations itself.

use super::Transformation;
use std::path::PathBuf;

#[derive(serde::Deserialize)]
struct Case {
    #[serde(rename = "in")]
    input: String,
    out: String,
}

#[derive(serde::Deserialize)]
struct MapRef {
    file: String,
    code_page: u32,
}

#[derive(serde::Deserialize)]
struct File {
    transformation: String,
    /// The `SecUnicodeMapFile` the oracle had loaded, if any.
    unicode_map: Option<MapRef>,
    cases: Vec<Case>,
}

fn bytes(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("vector chars must be U+0000..U+00FF"))
        .collect()
}

fn escape(b: &[u8]) -> String {
    b.iter()
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect()
}

#[test]
fn libmodsecurity_vectors() {
    // SPOA_TRANSFORM_VECTORS points a one-off run at a larger generated set (see the script).
    let dir = std::env::var_os("SPOA_TRANSFORM_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/transform"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data/transform exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut seen = std::collections::BTreeSet::new();
    let (mut total, mut failures) = (0usize, Vec::new());
    let mut out = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable vector file");
        let file: File = serde_json::from_str(&text).expect("valid vector file");
        let t = Transformation::from_name(&file.transformation).expect("known transformation");
        let map = file.unicode_map.as_ref().map(|m| {
            let map_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/transform");
            let text = std::fs::read_to_string(map_dir.join(&m.file)).expect("unicode map file");
            super::UnicodeMap::parse(&text, m.code_page).expect("valid unicode map")
        });
        seen.insert(t);
        for case in &file.cases {
            let (input, expected) = (bytes(&case.input), bytes(&case.out));
            let changed = t.apply_with_map(&input, &mut out, map.as_ref());
            total += 1;
            // The identity hint must agree with libmodsecurity3 too.
            let hint_wrong = t.leaves_unchanged(&input) && expected != input;
            if out != expected || changed != (expected != input) || hint_wrong {
                failures.push(format!(
                    "{}{}: in={} expected={} got={}",
                    t.name(),
                    if hint_wrong {
                        " (leaves_unchanged)"
                    } else {
                        ""
                    },
                    escape(&input),
                    escape(&expected),
                    escape(&out)
                ));
            }
        }
    }
    assert_eq!(
        seen.len(),
        Transformation::ALL.len(),
        "every transformation has vectors"
    );
    assert!(total > 1000, "too few vectors: {total}");
    assert!(
        failures.is_empty(),
        "{} of {total} vectors differ:\n{}",
        failures.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
