//! Extraction of `@rx` arguments from CRS rule files, shared by the matcher's differential test
//! and its benchmark (`benches/matcher.rs` includes this file by path).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The folder holding `v3.3.4/` and `v4.28.0/`: `shared/crs` beside or above the checkout, else
/// `target/crs` as `tests/crs/fetch.sh` fills it (official archives, pinned SHA-256).
pub fn crs_root_or_skip(test: &str) -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = std::process::Command::new(repo.join("tests/crs/fetch.sh"))
        .args(["v3.3.4", "v4.28.0"])
        .output();
    let why = match o {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let parents: Vec<PathBuf> = text
                .lines()
                .filter_map(|l| Path::new(l.trim()).parent().map(Path::to_path_buf))
                .collect();
            if parents.len() == 2 && parents[0] == parents[1] {
                return Some(parents[0].clone());
            }
            format!("the two releases are in different folders: {text}")
        }
        Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
        Err(e) => e.to_string(),
    };
    // Straight to stderr: the test harness captures eprintln! of passing tests.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIP {test}: CRS unavailable: {why}");
    None
}

/// [`crs_root_or_skip`] for callers that checked the releases already (or cannot skip).
pub fn crs_root() -> PathBuf {
    crs_root_or_skip("crs_root").expect("CRS 3.3.4 and 4.28.0: run tests/crs/fetch.sh")
}

pub fn conf_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    v.sort();
    v
}

/// Reads one double-quoted SecLang token starting at `s[0] == '"'`: `\"` is a quote, any other
/// backslash stays (the regex sees it). Returns the content and the rest after the closing quote.
fn quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            '"' => return Some((out, body.get(i + 1..).unwrap_or(""))),
            _ => out.push(c),
        }
    }
    None
}

/// Skips one whitespace-delimited or quoted token.
fn skip_token(s: &str) -> &str {
    let s = s.trim_start();
    if s.starts_with('"') {
        quoted(s).map_or("", |(_, rest)| rest)
    } else {
        s.find(char::is_whitespace).map_or("", |i| &s[i..])
    }
}

/// The `@rx` operator arguments of every SecRule in `text` (line continuations joined; patterns
/// with macros, which are only known at run time, skipped).
pub fn rx_patterns(text: &str) -> Vec<String> {
    let mut logical = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let l = line.trim_end();
        if let Some(head) = l.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
        } else {
            cur.push_str(l);
            logical.push(std::mem::take(&mut cur));
        }
    }
    logical.push(cur);
    let mut out = Vec::new();
    for line in logical {
        let t = line.trim_start();
        let Some(rest) = t.strip_prefix("SecRule") else {
            continue;
        };
        let rest = skip_token(rest).trim_start();
        let Some((op, _)) = quoted(rest) else {
            continue;
        };
        let op = op.trim_start();
        let op = op.strip_prefix('!').unwrap_or(op);
        if let Some(p) = op.strip_prefix("@rx ") {
            if !p.contains("%{") {
                out.push(p.to_owned());
            }
        }
    }
    out
}
