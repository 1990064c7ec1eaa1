//! Data-driven tests: `tests/data/operator/*.json`, match/no-match verdicts produced by
//! libmodsecurity3 3.0.9 itself (`tests/data/operator/oracle/`), replayed against our
//! primitives. Each character of an input (U+0000–U+00FF) is one byte.

use std::path::PathBuf;

#[derive(serde::Deserialize)]
struct Case {
    #[serde(rename = "in")]
    input: String,
    #[serde(rename = "match")]
    matched: bool,
}

#[derive(serde::Deserialize)]
struct File {
    operator: String,
    param: String,
    cases: Vec<Case>,
}

/// An operator under test: input → does it match.
type Op = Box<dyn Fn(&[u8]) -> bool>;

fn bytes(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("vector chars must be U+0000..U+00FF"))
        .collect()
}

#[test]
fn libmodsecurity_operator_vectors() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/operator");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data/operator exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let (mut total, mut failures) = (0usize, Vec::new());
    for path in &files {
        let file: File = serde_json::from_str(&std::fs::read_to_string(path).expect("readable"))
            .expect("valid vector file");
        let op: Op = match file.operator.as_str() {
            "validateUtf8Encoding" => Box::new(super::validate::utf8_encoding_invalid),
            "validateUrlEncoding" => Box::new(super::validate::url_encoding_invalid),
            "validateByteRange" => {
                let r = super::byte_range::ByteRanges::parse(&file.param).expect("valid ranges");
                Box::new(move |v| r.violates(v))
            }
            "within" => {
                let p = file.param.clone().into_bytes();
                Box::new(move |v| super::within::within(v, &p))
            }
            "eq" | "ge" | "gt" | "le" | "lt" => {
                let p = file.param.clone().into_bytes();
                let f = match file.operator.as_str() {
                    "eq" => super::compare::eq,
                    "ge" => super::compare::ge,
                    "gt" => super::compare::gt,
                    "le" => super::compare::le,
                    _ => super::compare::lt,
                };
                Box::new(move |v| f(v, &p))
            }
            "ipMatch" => {
                let m = super::ip_match::IpMatcher::parse(&file.param).expect("valid list");
                Box::new(move |v| m.matches(v))
            }
            other => panic!("unknown operator {other}"),
        };
        for case in &file.cases {
            total += 1;
            let input = bytes(&case.input);
            if op(&input) != case.matched {
                failures.push(format!(
                    "{} {:?}: {:?} expected {}",
                    file.operator, file.param, case.input, case.matched
                ));
            }
        }
    }
    assert!(total > 2000, "too few vectors: {total}");
    assert!(
        failures.is_empty(),
        "{} of {total} differ:\n{}",
        failures.len(),
        failures
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
