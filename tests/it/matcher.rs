//! The prefilter contract, proven on real data: every `@rx` pattern of CRS v3.3.4, v4.28.0 and
//! Debian's installed CRS goes into one `PatternSet`, and for every value of a corpus (the CRS
//! regression payloads, their URL-decoded and lowercased forms, and edge cases) the set's answer
//! for each pattern equals a plain PCRE2 match of that pattern alone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use spoa_waf::matcher::{PatternId, PatternSet, PatternSetBuilder, Regex};

#[path = "crs_rx.rs"]
pub(crate) mod crs_rx;
use crs_rx::{conf_files, crs_root, rx_patterns};

fn all_patterns() -> (Vec<String>, [usize; 3]) {
    let crs = crs_root();
    let dirs = [
        crs.join("v3.3.4/rules"),
        crs.join("v4.28.0/rules"),
        PathBuf::from("/usr/share/modsecurity-crs/rules"),
    ];
    let mut counts = [0usize; 3];
    let mut seen = BTreeSet::new();
    let mut list = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        for f in conf_files(d) {
            let text =
                std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            for p in rx_patterns(&text) {
                counts[i] += 1;
                if seen.insert(p.clone()) {
                    list.push(p);
                }
            }
        }
    }
    (list, counts)
}

fn collect_strings(v: &serde_yaml::Value, out: &mut Vec<Vec<u8>>) {
    match v {
        serde_yaml::Value::String(s) => out.push(s.as_bytes().to_vec()),
        serde_yaml::Value::Sequence(seq) => seq.iter().for_each(|x| collect_strings(x, out)),
        serde_yaml::Value::Mapping(m) => m.iter().for_each(|(k, x)| {
            collect_strings(k, out);
            collect_strings(x, out);
        }),
        serde_yaml::Value::Tagged(t) => collect_strings(&t.value, out),
        _ => {}
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

fn url_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Regression payloads (every string of every test YAML), decoded and lowercased variants, and
/// edge cases; deduplicated.
fn corpus() -> Vec<Vec<u8>> {
    let crs = crs_root();
    let mut files = Vec::new();
    yaml_files(&crs.join("v3.3.4/tests"), &mut files);
    yaml_files(&crs.join("v4.28.0/tests"), &mut files);
    files.sort();
    let mut raw = Vec::new();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let Ok(v) = serde_yaml::from_str::<serde_yaml::Value>(&text) else {
            continue;
        };
        collect_strings(&v, &mut raw);
    }
    let mut set = BTreeSet::new();
    for s in raw {
        let d = url_decode(&s);
        let dd = url_decode(&d);
        set.insert(d.to_ascii_lowercase());
        set.insert(d);
        set.insert(dd);
        set.insert(s);
    }
    let edges: [&[u8]; 24] = [
        b"",
        b"\n",
        b"\n\n",
        b"a\n",
        b"\na",
        b"a\nb",
        b"\r\n",
        b" ",
        b"0",
        b"\x00",
        b"\x0b",
        b"\x85",
        b"\xa0",
        b"\xff",
        b"\xbc\xbe\xc2\xb4\xe2\xff",
        b"<script>\nalert(1)</script>\n",
        b"1' or '1'='1\n",
        b"; cat /etc/passwd\n",
        b"application/json\n",
        b"text/html; charset=utf-8\n",
        b"GET\n",
        b"bytes=0-1,2-3,4-5,6-7,8-9,10-11\n",
        b"\xf0\x9f\x98\x80",
        b"a\x0bb\x0cc\rd\te",
    ];
    set.extend(edges.iter().map(|e| e.to_vec()));
    // Newline-injected copies exercise the multi-line anchor handling on real payloads.
    let with_nl: Vec<Vec<u8>> = set
        .iter()
        .filter(|s| s.len() < 200)
        .step_by(7)
        .flat_map(|s| {
            [
                [s.as_slice(), b"\n"].concat(),
                [b"\n", s.as_slice()].concat(),
            ]
        })
        .collect();
    set.extend(with_nl);
    set.into_iter().collect()
}

fn build(patterns: &[String]) -> PatternSet {
    let mut b = PatternSetBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        let id = b.add_regex(p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(id, PatternId(i as u32));
    }
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("matcher-cache");
    b.build_cached(Some(&cache))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn extracts_rx_arguments_with_continuations_and_escaped_quotes() {
    let text = "SecRule ARGS \"@rx a\\\"b\\d\" \"id:1\"\n\
                SecRule REQUEST_HEADERS:User-Agent \\\n    \"!@rx ^x$\" \\\n    \"id:2,\\\n    pass\"\n\
                SecRule \"ARGS|XML:/*\" \"@pm a b\" \"id:3\"\n\
                SecRule TX:x \"@rx ^%{tx.y}$\" \"id:4\"\n\
                # SecRule ARGS \"@rx commented\" \"id:5\"\n";
    assert_eq!(
        rx_patterns(text),
        vec!["a\"b\\d".to_owned(), "^x$".to_owned()]
    );
}

#[test]
fn every_crs_rx_pattern_builds_and_agrees_with_pcre2() {
    let test = "every_crs_rx_pattern_builds_and_agrees_with_pcre2";
    for v in ["v3.3.4", "v4.28.0"] {
        if crate::crs4::crs_or_skip(v, test).is_none() {
            return;
        }
    }
    let (patterns, counts) = all_patterns();
    // crs-scope §9: 265 @rx directives in Debian's 3.3.4 (one with a macro), 318 in v4.28.0.
    assert!(
        counts[0] >= 260 && counts[1] >= 310 && counts[2] >= 260,
        "{counts:?}"
    );
    let set = build(&patterns);
    let st = set.stats().clone();
    eprintln!(
        "{} unique patterns ({counts:?} per source): {} HS expressions, {} prefiltered, {} PCRE2-only, DB {} bytes, built in {:?} (classify {:?}, compile {:?}; {:?})",
        patterns.len(), st.hs_expressions, st.prefiltered, st.pcre_only, st.db_bytes, st.build_time, st.classify_time, st.hs_compile_time, st.cache
    );
    assert_eq!(set.len(), patterns.len());
    // §9: all but 920510 go through Hyperscan, the rejected ones as prefilters.
    assert!(st.pcre_only <= 2, "{st:?}");
    // Lookaround/possessive (3.3.4) and too-large patterns that could not be split exactly.
    assert!(st.prefiltered >= 5 && st.prefiltered <= 20, "{st:?}");
    assert!(st.hs_expressions >= patterns.len() - st.pcre_only, "{st:?}");

    let singles: Vec<Regex> = patterns
        .iter()
        .map(|p| Regex::new(p).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let values = corpus();
    assert!(values.len() > 5_000, "corpus has {} values", values.len());
    let mut scratch = set.new_scratch();
    let mut got = Vec::new();
    let mut mismatches = Vec::new();
    let mut positives = 0usize;
    let mut wants = Vec::with_capacity(values.len());
    for v in &values {
        set.scan(&mut scratch, v, &mut got);
        let mut want = Vec::new();
        for (i, re) in singles.iter().enumerate() {
            if re.is_match(v) {
                want.push(PatternId(i as u32));
            }
        }
        positives += want.len();
        if got != want {
            mismatches.push((
                String::from_utf8_lossy(v).into_owned(),
                got.clone(),
                want.clone(),
            ));
        }
        wants.push(want);
    }
    // Each value again right away: short ones now come from the scan memo (a full second pass
    // would find them evicted, the memo being far smaller than the corpus).
    let hits_before = scratch.counters().memo_hits;
    for (v, want) in values.iter().zip(&wants) {
        set.scan(&mut scratch, v, &mut got);
        set.scan(&mut scratch, v, &mut got);
        if &got != want {
            mismatches.push((
                String::from_utf8_lossy(v).into_owned(),
                got.clone(),
                want.clone(),
            ));
        }
    }
    let c = scratch.counters();
    eprintln!("memo: {} hits, {} misses", c.memo_hits, c.memo_misses);
    assert!(
        c.memo_hits > hits_before + 1_000,
        "the repeats exercise the memo"
    );
    eprintln!(
        "{} values, {positives} (pattern, value) matches, {} limit hits",
        values.len(),
        scratch.match_limit_hits()
    );
    for (v, g, w) in mismatches.iter().take(10) {
        let diff: Vec<_> = g
            .iter()
            .filter(|x| !w.contains(x))
            .map(|x| format!("+{}", patterns[x.0 as usize]))
            .chain(
                w.iter()
                    .filter(|x| !g.contains(x))
                    .map(|x| format!("-{}", patterns[x.0 as usize])),
            )
            .map(|s| s.chars().take(100).collect::<String>())
            .collect();
        eprintln!(
            "value {:?}: {diff:?}",
            v.chars().take(80).collect::<String>()
        );
    }
    assert!(
        mismatches.is_empty(),
        "{} values disagree",
        mismatches.len()
    );
    assert!(
        positives > 10_000,
        "the corpus exercises matches, not just misses"
    );
}
