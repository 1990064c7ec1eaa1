//! `Cookie` request header → REQUEST_COOKIES pairs (version 0 cookies, `SecCookieFormat 0`).
//!
//! Reproduces libmodsecurity3 3.0.9: split on `;` (getline semantics: a trailing empty piece
//! is dropped), strip trailing whitespace from the last piece only, skip empty pieces, split
//! each on the first `=` (a cookie without `=` is a name with an empty value), strip leading
//! whitespace from the name only, and skip pieces whose name ends up empty (`; =v`). Names and
//! values are not URL-decoded, quotes are not interpreted (`c="x;y"` yields `c` = `"x` and a
//! cookie named `y"`), inner and trailing spaces of non-final values are kept.

use super::{Pair, PairPool};

/// C `isspace` in the "C" locale: the whitespace ModSecurity trims.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Appends the cookies of one `Cookie` header value to `out`.
pub fn parse(header_value: &[u8], out: &mut Vec<Pair>) {
    parse_pooled(header_value, out, &mut PairPool::default());
}

/// [`parse`], with the pairs' buffers taken from `pool`.
pub fn parse_pooled(header_value: &[u8], out: &mut Vec<Pair>, pool: &mut PairPool) {
    let body = header_value.strip_suffix(b";").unwrap_or(header_value);
    if body.is_empty() {
        return;
    }
    let mut pieces = body.split(|&c| c == b';').peekable();
    while let Some(mut piece) = pieces.next() {
        if pieces.peek().is_none() {
            while let [rest @ .., last] = piece {
                if !is_space(*last) {
                    break;
                }
                piece = rest;
            }
        }
        if piece.is_empty() {
            continue;
        }
        let (mut name, value) = match piece.iter().position(|&c| c == b'=') {
            Some(eq) => (&piece[..eq], &piece[eq + 1..]),
            None => (piece, &piece[piece.len()..]),
        };
        while let [first, rest @ ..] = name {
            if !is_space(*first) {
                break;
            }
            name = rest;
        }
        if name.is_empty() {
            continue;
        }
        out.push(pool.pair(name, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(input: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        parse(input.as_bytes(), &mut out);
        out.into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    // Every expectation below was recorded from libmodsecurity3 3.0.9 (REQUEST_COOKIES).
    #[test]
    fn reference_cases() {
        assert_eq!(
            c("a=1; b=2;c=3"),
            pairs(&[("a", "1"), ("b", "2"), ("c", "3")])
        );
        assert_eq!(
            c("a; b=; =c; d=e=f"),
            pairs(&[("a", ""), ("b", ""), ("d", "e=f")])
        );
        assert_eq!(
            c(r#" a = 1 ; "b"="q u" ; c="x;y""#),
            pairs(&[
                ("a ", " 1 "),
                ("\"b\"", "\"q u\" "),
                ("c", "\"x"),
                ("y\"", "")
            ])
        );
        assert_eq!(
            c("a=%41+b; b=1,c=2"),
            pairs(&[("a", "%41+b"), ("b", "1,c=2")])
        );
        assert_eq!(c(";;a=1;;"), pairs(&[("a", "1")]));
        assert_eq!(c(""), pairs(&[]));
        assert_eq!(c("nokey"), pairs(&[("nokey", "")]));
        assert_eq!(c("x=1;nokey"), pairs(&[("x", "1"), ("nokey", "")]));
        assert_eq!(c("nokey;x=1"), pairs(&[("nokey", ""), ("x", "1")]));
        assert_eq!(c("a=1\t;\tb=2"), pairs(&[("a", "1\t"), ("b", "2")]));
        assert_eq!(c("a=1 "), pairs(&[("a", "1")]));
        assert_eq!(c("a=1; "), pairs(&[("a", "1")]));
        assert_eq!(c("  =x; b=2"), pairs(&[("b", "2")]));
        assert_eq!(c("a=1 ; b =2 "), pairs(&[("a", "1 "), ("b ", "2")]));
        assert_eq!(c("\ta=1"), pairs(&[("a", "1")]));
        assert_eq!(c("a=1;\r\n b=2"), pairs(&[("a", "1"), ("b", "2")]));
        assert_eq!(c("a=1;b"), pairs(&[("a", "1"), ("b", "")]));
        assert_eq!(c("a=1;\x0bb=2"), pairs(&[("a", "1"), ("b", "2")]));
    }

    #[test]
    fn never_panics_on_random_input() {
        let mut rng = crate::body::testrand::Rng::new(2);
        for _ in 0..20_000 {
            let input = rng.bytes(48, b"; =\t\"ab");
            let mut out = Vec::new();
            parse(&input, &mut out);
            for (name, value) in &out {
                assert!(!name.is_empty());
                assert!(name.len() + value.len() < input.len() + 1);
            }
        }
    }
}
