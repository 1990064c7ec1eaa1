//! Differential check: `ops::libinjection` (our `ops::xss`, and `libinjectionrs` for SQLi)
//! against the C libinjection inside Debian's libmodsecurity.so.3, the code `@detectXSS` and
//! `@detectSQLi` run in libmodsecurity3 3.0.9. A normal test: it builds the small C driver
//! (`libinjection_c.c`, `cc … -lmodsecurity`) into the test's temp dir, or uses `LIBINJECTION_C`;
//! without a C compiler or `libmodsecurity-dev` it skips with a printed reason.
//!
//! Payloads: each URI query and body argument name and value of every CRS regression test
//! (split on `&`/`=`, `+` and `%XX` decoded), each raw body, the User-Agent and Referer headers
//! and cookie values; each also after the 942100 transformation chain
//! (`utf8toUnicode,urlDecodeUni,removeNulls`) and the 941100 chain
//! (`…,htmlEntityDecode,jsDecode,cssDecode,removeNulls`). Added to that, seeded generators:
//! SQL token soup, and HTML built from tags, separators, attributes (event handlers real and
//! made up, URL and style attributes), quotes, values with entities, schemes and JS/CSS
//! escapes, comments and doctypes, each also randomly mutated byte by byte.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use spoa_waf::ops::libinjection::{detect_sqli, detect_xss};
use spoa_waf::transform::Transformation as T;

fn crs_root() -> Option<PathBuf> {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let candidate = dir.join("shared/crs");
        if candidate.is_dir() {
            return Some(candidate);
        }
        if !dir.pop() {
            return None;
        }
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
    let mut out = Vec::new();
    T::UrlDecode.apply(s, &mut out);
    out
}

fn split_args(s: &[u8], out: &mut BTreeSet<Vec<u8>>) {
    for pair in s.split(|&b| b == b'&') {
        let mut kv = pair.splitn(2, |&b| b == b'=');
        for part in [kv.next(), kv.next()].into_iter().flatten() {
            out.insert(url_decode(part));
        }
    }
}

fn text(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Sequence(seq) => {
            Some(seq.iter().filter_map(text).collect::<Vec<_>>().join("\r\n"))
        }
        _ => None,
    }
}

/// Collects payloads from every mapping that looks like a stage input.
fn walk(v: &serde_yaml::Value, out: &mut BTreeSet<Vec<u8>>) {
    match v {
        serde_yaml::Value::Mapping(m) => {
            if let Some(uri) = m.get("uri").and_then(text) {
                if let Some((_, q)) = uri.split_once('?') {
                    split_args(q.as_bytes(), out);
                }
            }
            if let Some(data) = m.get("data").and_then(text) {
                out.insert(data.clone().into_bytes());
                split_args(data.as_bytes(), out);
            }
            if let Some(serde_yaml::Value::Mapping(h)) = m.get("headers") {
                for (k, v) in h {
                    let (Some(k), Some(v)) = (text(k), text(v)) else {
                        continue;
                    };
                    match k.to_ascii_lowercase().as_str() {
                        "user-agent" | "referer" => {
                            out.insert(v.into_bytes());
                        }
                        "cookie" => {
                            for c in v.split(';') {
                                let (n, val) = c.split_once('=').unwrap_or((c, ""));
                                out.insert(n.trim().as_bytes().to_vec());
                                out.insert(val.as_bytes().to_vec());
                            }
                        }
                        _ => {}
                    }
                }
            }
            for (_, child) in m {
                walk(child, out);
            }
        }
        serde_yaml::Value::Sequence(s) => s.iter().for_each(|c| walk(c, out)),
        _ => {}
    }
}

fn chain(input: &[u8], ts: &[T]) -> Vec<u8> {
    let (mut cur, mut next) = (input.to_vec(), Vec::new());
    for t in ts {
        t.apply(&cur, &mut next);
        std::mem::swap(&mut cur, &mut next);
    }
    cur
}

/// (sqli, fingerprint, xss) per payload from the C side.
fn run_c(bin: &str, payloads: &[Vec<u8>]) -> Vec<(bool, String, bool)> {
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the C libinjection driver");
    let mut stdin = child.stdin.take().expect("stdin");
    let input: String = payloads
        .iter()
        .map(|p| p.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
        .collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let reader = BufReader::new(child.stdout.take().expect("stdout"));
    let rows: Vec<_> = reader
        .lines()
        .map(|l| {
            let l = l.expect("utf-8 line");
            let f: Vec<&str> = l.split(' ').collect();
            (
                f.first() == Some(&"1"),
                f.get(1).unwrap_or(&"-").to_string(),
                f.get(2) == Some(&"1"),
            )
        })
        .collect();
    writer
        .join()
        .expect("writer thread")
        .expect("write payloads");
    child.wait().expect("C driver exits");
    rows
}

/// `count` pseudo-random payloads built from SQL and HTML fragments (xorshift, fixed seed).
fn token_soup(count: usize) -> Vec<Vec<u8>> {
    const TOKENS: &[&str] = &[
        "'",
        "\"",
        "`",
        " ",
        "1",
        "0x41",
        "or",
        "OR",
        "and",
        "union",
        "select",
        "from",
        "where",
        "=",
        "(",
        ")",
        ",",
        ";",
        "--",
        "#",
        "/*",
        "*/",
        "-",
        "+",
        "||",
        "&&",
        "@@version",
        "sleep",
        "benchmark",
        "char",
        "1e1",
        ".",
        "x",
        "users",
        "null",
        "not",
        "like",
        "between",
        "case",
        "when",
        "then",
        "end",
        "<",
        ">",
        "<script>",
        "</script>",
        "<img",
        "src=",
        "onerror=",
        "alert(1)",
        "javascript:",
        "<svg/onload=",
        "href=",
        "style=",
        "expression(",
        "&lt;",
        "<!--",
        "-->",
        "\\",
        "\n",
        "\t",
        "%",
        "{",
        "}",
        "\\N",
        "$",
        "a",
        "b",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = 1 + (next() % 10) as usize;
            (0..len)
                .flat_map(|_| TOKENS[(next() % TOKENS.len() as u64) as usize].bytes())
                .collect()
        })
        .collect()
}

/// A small seeded PRNG (xorshift64*), so failures reproduce from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// `count` generated HTML fragments: tag soup aimed at every branch of libinjection's XSS
/// check (tags, attribute names, value schemes and entities, comments, contexts).
fn html_soup(seed: u64, count: usize) -> Vec<Vec<u8>> {
    const TAGS: &[&str] = &[
        "x", "a", "b", "img", "IMG", "ScRiPt", "script", "svg", "svgx", "SVG", "xsl", "xslt",
        "iframe", "frame", "frameset", "object", "embed", "applet", "base", "link", "meta",
        "style", "xml", "xss", "comment", "handler", "listener", "import", "isindex", "noscript",
        "vmlframe", "body", "div", "input", "form", "video", "audio", "marquee", "set", "animate",
        "math", "details", "sc\0ript", "if\0rame", "x\0", "\0", "ab", "s", "sv",
    ];
    const ATTRS: &[&str] = &[
        "onxxx",
        "OnXxx",
        "onload",
        "onerror",
        "ONERROR",
        "onmouseover",
        "on",
        "onx",
        "onxx",
        "o\0nxx",
        "on\0xx",
        "onfocus",
        "ontoggle",
        "onbegin",
        "src",
        "SRC",
        "href",
        "HrEf",
        "xlink:href",
        "action",
        "formaction",
        "background",
        "dynsrc",
        "lowsrc",
        "poster",
        "by",
        "from",
        "to",
        "values",
        "handler",
        "folder",
        "style",
        "STYLE",
        "filter",
        "datasrc",
        "dataformatas",
        "attributename",
        "attributeName",
        "xmlns",
        "xmlnsx",
        "xmlns:x",
        "xlink",
        "xlinkx",
        "title",
        "alt",
        "class",
        "id",
        "name",
        "value",
        "x",
        "s\0rc",
        "h\0ref",
        "=",
        "==",
        "/",
        "data",
        "srcdoc",
    ];
    const VALUES: &[&str] = &[
        "1",
        "alert(1)",
        "x",
        "javascript:alert(1)",
        "JaVaScRiPt:x",
        "java",
        "jav",
        "javas\0cript:",
        "jav\nascript:",
        "jav\tascript:",
        "&#106;avascript:",
        "&#x6a;avascript:",
        "&#X6A;ava",
        "&#0000106avascript:",
        "&#x0006a;",
        "&#106",
        "&#x6a",
        "&#",
        "&#x",
        "&#;",
        "&#xzz;",
        "&#99999999;",
        "&#x14a;ava",
        "&#74;AVA",
        "&jx;",
        "&amp;",
        " javascript:",
        "\u{1}java",
        "\u{7f}java",
        "\u{a0}java",
        "\t\n java",
        "data:text/html,x",
        "DATA:",
        "d&#97;ta:",
        "view-source:x",
        "VIEW-SOURCE",
        "vbscript:x",
        "VBScript:",
        "vb",
        "http://x/",
        "/path",
        "#",
        "",
        " ",
        "expression(alert(1))",
        "url(javascript:x)",
        "\\6a avascript:",
        "\\u006aavascript:",
        "onload",
        "onxxx",
        "href",
        "style",
        "x>",
        ">",
        "\"",
        "'",
        "`",
        "&#0;java",
        "&#10;java",
        "&#32;java",
        "&#x20;java",
        "&#9;java",
        "j&#x0A;ava",
        "ja\u{1}va",
        "&#65;",
        "&#x41;&#x41;",
    ];
    const SEPS: &[&str] = &[
        " ", "/", "\t", "\n", "\r", "\u{b}", "\u{c}", "\0", "  ", " /", "/ ",
    ];
    const QUOTES: &[&str] = &["", "\"", "'", "`"];
    const OTHER: &[&str] = &[
        "<!DOCTYPE html>",
        "<!doctype",
        "<!DOCTYP",
        "<!-- x -->",
        "<!--[if IE]>x<![endif]-->",
        "<!--[IF",
        "<!--xml x-->",
        "<!--import",
        "<!--entity x",
        "<!ENTITY x>",
        "<!IMPORT x>",
        "<!--`-->",
        "<!-- - -!>",
        "<!--\0-->",
        "<!-- -\0->",
        "<![CDATA[x]]>",
        "<![CDATA[<script>",
        "<?xml x?>",
        "<?import x>",
        "<?`>",
        "<%x%>",
        "<% `%>",
        "<%import x%>",
        "</x>",
        "</>",
        "</ x>",
        "</script>",
        "<>",
        "< x",
        "<1",
        "<<",
        "<=",
        "a<b",
        "x > y",
        "&lt;script&gt;",
        "\\x3cscript\\x3e",
        "\\u003cimg",
        "%3Cscript%3E",
        "hello world",
        "O'Reilly",
        "1' or '1'='1",
        "\" ",
        "' ",
        "` ",
        "\">",
        "'>",
        "`>",
    ];
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let mut s = String::new();
        // A context breaker first sometimes: the value may be reflected inside an attribute.
        if rng.chance(30) {
            s.push_str(rng.pick(&["\"", "'", "`", "\">", "'>", "x\" ", "x' ", "x ", " ", "x>"]));
        }
        for _ in 0..1 + rng.below(3) {
            match rng.below(10) {
                0..=6 => {
                    if rng.chance(90) {
                        s.push('<');
                    }
                    s.push_str(rng.pick(TAGS));
                    for _ in 0..rng.below(4) {
                        s.push_str(rng.pick(SEPS));
                        s.push_str(rng.pick(ATTRS));
                        if rng.chance(80) {
                            if rng.chance(20) {
                                s.push_str(rng.pick(SEPS));
                            }
                            s.push('=');
                            if rng.chance(20) {
                                s.push_str(rng.pick(SEPS));
                            }
                            let q = rng.pick(QUOTES);
                            s.push_str(q);
                            s.push_str(rng.pick(VALUES));
                            if rng.chance(85) {
                                s.push_str(q);
                            }
                        }
                    }
                    if rng.chance(60) {
                        s.push_str(rng.pick(&[">", "/>", " >", "/", " />"]));
                    }
                }
                7 | 8 => s.push_str(rng.pick(OTHER)),
                _ => {
                    // A bare attribute, as after a broken-out quote.
                    s.push_str(rng.pick(ATTRS));
                    s.push('=');
                    s.push_str(rng.pick(VALUES));
                    s.push_str(rng.pick(SEPS));
                }
            }
        }
        let mut b = s.into_bytes();
        out.push(b.clone());
        // Mutations: delete, insert or replace a byte with one the tokenizer cares about.
        const BYTES: &[u8] = b"<>/=\"'` \t\n\0!-?%&#;:xX0ano\x0b\x0c\r\x7f\x80\xff[]";
        for _ in 0..rng.below(3) {
            if b.is_empty() {
                break;
            }
            let i = rng.below(b.len());
            match rng.below(3) {
                0 => {
                    b.remove(i);
                }
                1 => b.insert(i, BYTES[rng.below(BYTES.len())]),
                _ => b[i] = BYTES[rng.below(BYTES.len())],
            }
            out.push(b.clone());
        }
    }
    out.truncate(count);
    out
}

/// `count` generated SQL-ish values: a prefix that closes a string or number context, then
/// keywords, functions, operators, literals and comments in random order, then mutations.
fn sql_soup(seed: u64, count: usize) -> Vec<Vec<u8>> {
    const PREFIX: &[&str] = &[
        "", "1", "'", "\"", "1'", "1\"", "x'", "-1", "1)", "')", "\")", "`", "1 ", "a",
    ];
    const WORDS: &[&str] = &[
        "or",
        "OR",
        "and",
        "AND",
        "xor",
        "not",
        "union",
        "UNION ALL",
        "select",
        "SELECT",
        "from",
        "where",
        "having",
        "group by",
        "order by",
        "limit",
        "offset",
        "into",
        "outfile",
        "insert",
        "update",
        "delete",
        "drop",
        "table",
        "exec",
        "execute",
        "declare",
        "waitfor delay",
        "sleep(5)",
        "benchmark(1,md5(1))",
        "pg_sleep(1)",
        "char(65)",
        "concat(",
        "version()",
        "@@version",
        "@x",
        "user()",
        "database()",
        "information_schema.tables",
        "load_file(",
        "case",
        "when",
        "then",
        "else",
        "end",
        "like",
        "rlike",
        "regexp",
        "between",
        "in",
        "is",
        "null",
        "true",
        "false",
        "1",
        "0",
        "1e1",
        "0x41",
        "0b1",
        ".1",
        "1.",
        "'a'",
        "\"a\"",
        "N'a'",
        "x'41'",
        "b'1'",
        "`t`",
        "[t]",
        "users",
        "id",
        "password",
        "admin",
    ];
    const OPS: &[&str] = &[
        " ", "  ", "\t", "\n", "=", "!=", "<>", "<", ">", "<=", ">=", "<=>", "(", ")", ",", ";",
        "+", "-", "*", "/", "%", "||", "&&", "|", "&", "^", "!", "~", ":=", "::", ".", "--", "-- ",
        "#", "/*", "*/", "/*!", "/*!50000", "{", "}", "\\", "?", "$", "'", "\"", "\0",
    ];
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let mut s = String::from(rng.pick(PREFIX));
        for _ in 0..1 + rng.below(8) {
            if rng.chance(55) {
                if rng.chance(70) {
                    s.push(' ');
                }
                s.push_str(rng.pick(WORDS));
            } else {
                s.push_str(rng.pick(OPS));
            }
        }
        let mut b = s.into_bytes();
        out.push(b.clone());
        const BYTES: &[u8] = b" '\"`()-#/*;=\\\n\0x1aAeE.,@$!|&\xff\x80";
        for _ in 0..rng.below(3) {
            if b.is_empty() {
                break;
            }
            let i = rng.below(b.len());
            match rng.below(3) {
                0 => {
                    b.remove(i);
                }
                1 => b.insert(i, BYTES[rng.below(BYTES.len())]),
                _ => b[i] = BYTES[rng.below(BYTES.len())],
            }
            out.push(b.clone());
        }
    }
    out.truncate(count);
    out
}

/// `LIBINJECTION_DIFF_SCALE` multiplies the generated sets (default 1) and
/// `LIBINJECTION_DIFF_SEED` changes their seeds, for long one-off runs.
fn scale_and_seed() -> (usize, u64) {
    let scale = std::env::var("LIBINJECTION_DIFF_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let seed = std::env::var("LIBINJECTION_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (scale, seed)
}

/// The C driver: `LIBINJECTION_C`, or built here; None (with the reason) when it cannot be.
fn c_driver() -> Result<String, String> {
    if let Ok(bin) = std::env::var("LIBINJECTION_C") {
        return Ok(bin);
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/libinjection/libinjection_c.c");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("libinjection-c-{}", std::process::id()));
    let status = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .arg("-lmodsecurity")
        .status()
        .map_err(|e| format!("cannot run cc: {e}"))?;
    if !status.success() {
        return Err("cc -lmodsecurity failed (libmodsecurity-dev missing?)".into());
    }
    Ok(out.to_string_lossy().into_owned())
}

#[test]
fn libinjection_matches_c_reference() {
    let bin = match c_driver() {
        Ok(b) => b,
        Err(why) => {
            println!("skipped: no C libinjection driver: {why}");
            return;
        }
    };
    let root = crs_root();
    let root = root.as_deref().unwrap_or(Path::new("/nonexistent"));
    let mut files = Vec::new();
    yaml_files(root, &mut files);
    files.retain(|p| p.to_string_lossy().contains("regression"));
    let mut raw = BTreeSet::new();
    let mut unparsable = 0;
    for f in &files {
        let Ok(s) = std::fs::read_to_string(f) else {
            continue;
        };
        match serde_yaml::from_str::<serde_yaml::Value>(&s) {
            Ok(v) => walk(&v, &mut raw),
            Err(_) => unparsable += 1,
        }
    }
    let sqli_chain = [T::Utf8ToUnicode, T::UrlDecodeUni, T::RemoveNulls];
    let xss_chain = [
        T::Utf8ToUnicode,
        T::UrlDecodeUni,
        T::HtmlEntityDecode,
        T::JsDecode,
        T::CssDecode,
        T::RemoveNulls,
    ];
    let mut all = raw.clone();
    for p in &raw {
        all.insert(chain(p, &sqli_chain));
        all.insert(chain(p, &xss_chain));
    }
    let crs_count = all.len();
    // Plus seeded token soup: random concatenations of SQL/HTML fragments reach tokenizer and
    // folding paths the CRS payloads do not (deterministic, so the report is reproducible).
    let (scale, seed) = scale_and_seed();
    all.extend(token_soup(50_000));
    all.extend(sql_soup(0x5eed_0002 ^ seed, 100_000 * scale));
    let soup_count = all.len() - crs_count;
    let html = html_soup(0x5eed_0001 ^ seed, 150_000 * scale);
    let html_count = html.len();
    all.extend(html);
    let payloads: Vec<Vec<u8>> = all.into_iter().collect();
    let c = run_c(&bin, &payloads);
    assert_eq!(c.len(), payloads.len(), "one C answer per payload");

    let (mut sqli_dis, mut fp_dis, mut xss_dis) = (Vec::new(), Vec::new(), Vec::new());
    let (mut c_sqli, mut c_xss) = (0, 0);
    for (p, (cs, cfp, cx)) in payloads.iter().zip(&c) {
        let rs = detect_sqli(p);
        let rx = detect_xss(p);
        c_sqli += usize::from(*cs);
        c_xss += usize::from(*cx);
        match (&rs, cs) {
            (Some(fp), true) if fp != cfp => fp_dis.push((p, fp.clone(), cfp.clone())),
            (Some(_), false) | (None, true) => sqli_dis.push((p, rs.clone(), cfp.clone())),
            _ => {}
        }
        if rx != *cx {
            xss_dis.push((p, rx, *cx));
        }
    }
    let n = payloads.len();
    let show = |b: &[u8]| {
        b.escape_ascii()
            .to_string()
            .chars()
            .take(160)
            .collect::<String>()
    };
    println!(
        "files: {} ({unparsable} unparsable), payloads: {n} (deduplicated) = {crs_count} from CRS ({} raw) + {soup_count} generated SQL + up to {html_count} generated HTML",
        files.len(),
        raw.len()
    );
    println!("C says SQLi: {c_sqli}, XSS: {c_xss}");
    let pct = |d: usize| 100.0 * (n - d) as f64 / n as f64;
    println!(
        "SQLi verdict agreement: {}/{n} ({:.3}%)",
        n - sqli_dis.len(),
        pct(sqli_dis.len())
    );
    println!(
        "SQLi fingerprint disagreements (both SQLi): {}",
        fp_dis.len()
    );
    println!(
        "XSS verdict agreement: {}/{n} ({:.3}%)",
        n - xss_dis.len(),
        pct(xss_dis.len())
    );
    for (p, r, c) in sqli_dis.iter().take(25) {
        println!("  sqli  rust={r:?} c={c:?}  {:?}", show(p));
    }
    for (p, r, c) in fp_dis.iter().take(25) {
        println!("  fp    rust={r} c={c}  {:?}", show(p));
    }
    for (p, r, c) in xss_dis.iter().take(25) {
        println!("  xss   rust={r} c={c}  {:?}", show(p));
    }
    assert!(n > 100_000, "expected the generated payloads, got {n}");
    assert!(
        c_xss > 10_000 && n - c_xss > 10_000,
        "the HTML generator must reach both verdicts"
    );
    // Any disagreement fails: the generators are seeded, so a failure reproduces.
    // Known and open (tests/libinjection/README.md): libinjectionrs reads a NUL byte inside
    // an SQL word or variable differently from the C code, whose character-class scans match
    // NUL as the end of the class string. CRS never shows detectSQLi a NUL (its chains end in
    // removeNulls); every other SQLi disagreement fails.
    let has_nul = |p: &[u8]| p.contains(&0);
    let sqli_nul = sqli_dis.iter().filter(|d| has_nul(d.0)).count();
    let fp_nul = fp_dis.iter().filter(|d| has_nul(d.0)).count();
    println!("SQLi disagreements on inputs with a NUL byte (known, open): {sqli_nul} verdicts, {fp_nul} fingerprints");
    assert_eq!(
        sqli_dis.len(),
        sqli_nul,
        "SQLi verdict disagreements on NUL-free inputs"
    );
    assert_eq!(
        fp_dis.len(),
        fp_nul,
        "fingerprint disagreements on NUL-free inputs"
    );
    assert!(
        xss_dis.is_empty(),
        "XSS verdict disagreements: {}",
        xss_dis.len()
    );
}
