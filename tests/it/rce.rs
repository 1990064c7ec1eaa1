//! The gadget-free specialisation of CRS's RCE evasion patterns (`plan::rce`) is exact: on
//! every value whose byte-class signature has none of the gadget bytes, PCRE2 on the
//! gadget-free pattern says what PCRE2 on the full pattern says (match and capture spans).
//! Values: the CRS 4.28 and 3.3.4 RCE regression payloads (raw and URL-decoded, and each
//! argument of them), the project's corpora (every query and form argument), generated
//! CRS-like strings (command words split by separators, the fragments of `reference.rs`) and
//! random bytes.

use std::path::Path;

use spoa_waf::matcher::{Regex, CAPTURE_SLOTS};
use spoa_waf::plan::rce::{gadget_free, GADGET_CLASSES};
use spoa_waf::transform::{classes, Transformation};

use crate::matcher::crs_rx;

/// Every string scalar of a YAML document.
fn strings(v: &serde_yaml::Value, out: &mut Vec<Vec<u8>>) {
    match v {
        serde_yaml::Value::String(s) => out.push(s.as_bytes().to_vec()),
        serde_yaml::Value::Sequence(s) => s.iter().for_each(|x| strings(x, out)),
        serde_yaml::Value::Mapping(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// `s`, its URL-decoded form, and the values of its `&`/`=`/`?`/`;`-separated pieces.
fn with_pieces(s: &[u8], out: &mut Vec<Vec<u8>>) {
    let mut dec = Vec::new();
    Transformation::UrlDecodeUni.apply(s, &mut dec);
    for v in [s.to_vec(), dec] {
        for p in v.split(|&b| matches!(b, b'&' | b'=' | b'?' | b';')) {
            if !p.is_empty() {
                out.push(p.to_vec());
            }
        }
        out.push(v);
    }
}

fn inputs() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let crs = crs_rx::crs_root();
    for v in ["v4.28.0", "v3.3.4"] {
        let dir = crs
            .join(v)
            .join("tests/regression/tests/REQUEST-932-APPLICATION-ATTACK-RCE");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for f in rd.flatten() {
            let text = std::fs::read_to_string(f.path()).unwrap_or_default();
            let mut s = Vec::new();
            if let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(&text) {
                strings(&doc, &mut s);
            }
            for x in s {
                with_pieces(&x, &mut out);
            }
        }
    }
    let corpora = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/corpus");
    for c in ["get", "post-form", "mix"] {
        let text = std::fs::read_to_string(corpora.join(format!("{c}.jsonl"))).unwrap();
        for line in text.lines().step_by(3) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            for k in ["uri", "body"] {
                if let Some(s) = v[k].as_str() {
                    with_pieces(s.as_bytes(), &mut out);
                }
            }
        }
    }
    // Generated: command words with the separators and prefixes CRS's lists expect, and
    // random bytes.
    let words = [
        "cat", "busybox", "env", "eval", "exec", "python", "perl", "nc", "wget", "curl", "bash",
        "sh", "ls", "id", "whoami", "uname", "ps", "kill", "chmod", "echo", "printf", "sudo",
        "time", "nohup", "xargs", "find", "awk", "sed", "base64", "php", "ruby", "node",
    ];
    let seps = [
        "", " ", ";", "|", "&", "\n", "`", "<", ">", "/", "(", "{", "json.", "/bin/", "-", ".",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let mut s = String::new();
        for _ in 0..1 + next() % 4 {
            s.push_str(seps[(next() % seps.len() as u64) as usize]);
            let w = words[(next() % words.len() as u64) as usize];
            if next() % 3 == 0 {
                s.push_str(&w.to_uppercase());
            } else {
                s.push_str(w);
            }
            s.push_str(seps[(next() % seps.len() as u64) as usize]);
            if next() % 2 == 0 {
                s.push_str(" /etc/passwd");
            }
        }
        out.push(s.into_bytes());
    }
    for _ in 0..1000 {
        let len = (next() % 48) as usize;
        out.push((0..len).map(|_| next() as u8).collect());
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn gadget_free_rce_patterns_agree_with_pcre2() {
    let crs = crs_rx::crs_root();
    let mut patterns = Vec::new();
    for f in [
        crs.join("v4.28.0/rules/REQUEST-932-APPLICATION-ATTACK-RCE.conf"),
        crs.join("v3.3.4/rules/REQUEST-932-APPLICATION-ATTACK-RCE.conf"),
    ] {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for p in crs_rx::rx_patterns(&text) {
            if let Some(plain) = gadget_free(&p) {
                patterns.push((p, plain));
            }
        }
    }
    // CRS 4.28: 932230–932260 and the header variants carry the gadget.
    assert!(patterns.len() >= 8, "{} gadget patterns", patterns.len());
    let inputs = inputs();
    let clean: Vec<&Vec<u8>> = inputs
        .iter()
        .filter(|x| classes(x) & GADGET_CLASSES == 0)
        .collect();
    let (mut matches, mut runs) = (0usize, 0usize);
    for (full, plain) in &patterns {
        let f = Regex::new(full).unwrap_or_else(|e| panic!("{e}"));
        let p = Regex::new(plain).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.capture_count(), p.capture_count());
        for x in &clean {
            let (mut cf, mut cp) = ([None; CAPTURE_SLOTS], [None; CAPTURE_SLOTS]);
            let a = f.captures(x, &mut cf);
            let b = p.captures(x, &mut cp);
            assert_eq!(
                (a, cf),
                (b, cp),
                "{:?} on {:?}",
                &full[..60],
                String::from_utf8_lossy(x)
            );
            runs += 1;
            matches += usize::from(a);
        }
    }
    println!(
        "{} gadget patterns, {} inputs ({} without gadget bytes): {runs} runs, {matches} matches",
        patterns.len(),
        inputs.len(),
        clean.len()
    );
    // The inputs must reach the patterns, or the agreement says nothing.
    assert!(matches >= 100, "only {matches} matches");
}

/// The gadget-free patterns in one Hyperscan set (as a group would hold them) report exactly
/// what PCRE2 on the full patterns says, on every gadget-free value: the specialisation says no
/// ⇔ the full regex says no. Prints how Hyperscan placed them (exact, prefiltered, PCRE2 only).
#[test]
fn gadget_free_set_says_no_iff_full_pcre2_says_no() {
    use spoa_waf::matcher::{PatternId, PatternSetBuilder};
    let crs = crs_rx::crs_root();
    let text =
        std::fs::read_to_string(crs.join("v4.28.0/rules/REQUEST-932-APPLICATION-ATTACK-RCE.conf"))
            .unwrap();
    let pairs: Vec<(String, String)> = crs_rx::rx_patterns(&text)
        .into_iter()
        .filter_map(|p| gadget_free(&p).map(|g| (p, g)))
        .collect();
    assert!(pairs.len() >= 8, "{} gadget patterns", pairs.len());
    let mut b = PatternSetBuilder::new();
    for (_, plain) in &pairs {
        b.add_regex(plain).unwrap_or_else(|e| panic!("{e}"));
    }
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("matcher-cache");
    let set = b
        .build_cached(Some(&cache))
        .unwrap_or_else(|e| panic!("{e}"));
    let full: Vec<Regex> = pairs.iter().map(|(f, _)| Regex::new(f).unwrap()).collect();
    let mut sc = set.new_scratch();
    let (mut got, mut yes) = (Vec::new(), 0usize);
    for x in inputs().iter().filter(|x| classes(x) & GADGET_CLASSES == 0) {
        set.scan(&mut sc, x, &mut got);
        for (i, re) in full.iter().enumerate() {
            let want = re.is_match(x);
            yes += usize::from(want);
            assert_eq!(
                got.contains(&PatternId(i as u32)),
                want,
                "pattern {i} on {:?}",
                String::from_utf8_lossy(x)
            );
        }
    }
    println!(
        "{} gadget-free patterns: {:?}; {yes} matches",
        pairs.len(),
        set.stats()
    );
    assert!(yes >= 100, "only {yes} matches");
}
