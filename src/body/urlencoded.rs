//! `application/x-www-form-urlencoded` bodies and query strings → ARGS pairs.
//!
//! Reproduces libmodsecurity3 3.0.9 (`Transaction::extractArguments`): split on the argument
//! separator the way `std::getline` does (a trailing empty piece is dropped, leading and inner
//! empty pieces become an empty name with an empty value), then on the first `=`; `+` becomes a
//! space and `%XX` is decoded in names and values, invalid escapes are kept literally
//! (`%zz`, a lone `%`, `%u0041`). No charset handling, no limits: the engine counts ARGS.

use super::{Pair, PairPool};

/// Appends the parameters of `input` (split on `sep`, normally `b'&'`) to `out`.
pub fn parse(input: &[u8], sep: u8, out: &mut Vec<Pair>) {
    parse_pooled(input, sep, out, &mut PairPool::default());
}

/// [`parse`], with the pairs' buffers taken from `pool`.
pub fn parse_pooled(input: &[u8], sep: u8, out: &mut Vec<Pair>, pool: &mut PairPool) {
    if input.is_empty() {
        return;
    }
    // getline semantics: "a&" yields one piece, "&a" two, "&" one empty piece.
    let body = input.strip_suffix(&[sep]).unwrap_or(input);
    for piece in body.split(|&c| c == sep) {
        let (name, value) = match piece.iter().position(|&c| c == b'=') {
            Some(eq) => (&piece[..eq], &piece[eq + 1..]),
            None => (piece, &piece[piece.len()..]),
        };
        let (mut k, mut v) = pool.take();
        decode_into(name, &mut k);
        decode_into(value, &mut v);
        out.push((k, v));
    }
}

/// Non-strict URL decoding as ModSecurity applies it to parameters: `+` → space, `%XX` → byte,
/// anything else (including a malformed escape) copied as is.
pub fn decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    decode_into(input, &mut out);
    out
}

/// [`decode`], appending to `out`.
pub fn decode_into(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        match c {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                input.get(i + 1).and_then(hex),
                input.get(i + 2).and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
}

fn hex(c: &u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(input: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        parse(input.as_bytes(), b'&', &mut out);
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

    // Every expectation below was recorded from libmodsecurity3 3.0.9 (ARGS_GET / ARGS_POST).
    #[test]
    fn reference_query_cases() {
        assert_eq!(
            p("a=1&b&c=%41+x&d=%zz&=e&f==g&&h=%4"),
            pairs(&[
                ("a", "1"),
                ("b", ""),
                ("c", "A x"),
                ("d", "%zz"),
                ("", "e"),
                ("f", "=g"),
                ("", ""),
                ("h", "%4")
            ])
        );
        assert_eq!(p("a=1&"), pairs(&[("a", "1")]));
        assert_eq!(p("&a=1"), pairs(&[("", ""), ("a", "1")]));
        assert_eq!(p("a"), pairs(&[("a", "")]));
        assert_eq!(p("="), pairs(&[("", "")]));
        assert_eq!(p("&"), pairs(&[("", "")]));
        assert_eq!(p(""), pairs(&[]));
        assert_eq!(
            p("a%3db=c%26d&a+b%20=%2B"),
            pairs(&[("a=b", "c&d"), ("a b ", "+")])
        );
        assert_eq!(p("a=1;b=2"), pairs(&[("a", "1;b=2")]));
        assert_eq!(
            p("a=%%41&b=%4z&c=%+1"),
            pairs(&[("a", "%A"), ("b", "%4z"), ("c", "% 1")])
        );
        assert_eq!(
            p("a=1&b=%41+c&&d"),
            pairs(&[("a", "1"), ("b", "A c"), ("", ""), ("d", "")])
        );
        assert_eq!(p("a=1\nb=2"), pairs(&[("a", "1\nb=2")]));
    }

    #[test]
    fn reference_bytes_cases() {
        let mut out = Vec::new();
        parse(b"x=%u0041%00y&z=%e9%", b'&', &mut out);
        assert_eq!(
            out,
            vec![
                (b"x".to_vec(), b"%u0041\0y".to_vec()),
                (b"z".to_vec(), b"\xe9%".to_vec())
            ]
        );
    }

    #[test]
    fn custom_separator() {
        let mut out = Vec::new();
        parse(b"a=1;b=2&c", b';', &mut out);
        assert_eq!(
            out,
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2&c".to_vec())
            ]
        );
    }

    #[test]
    fn never_panics_on_random_input() {
        let mut rng = crate::body::testrand::Rng::new(1);
        for _ in 0..20_000 {
            let input = rng.bytes(64, b"%+=&;0aF");
            let mut out = Vec::new();
            parse(&input, b'&', &mut out);
            // Decoding never grows the text: names and values fit in the input.
            let total: usize = out.iter().map(|(k, v)| k.len() + v.len()).sum();
            assert!(total <= input.len());
        }
    }
}
