//! `t:htmlEntityDecode`: decodes HTML character references, with or without the `;`.
//!
//! `&#DDD;` and `&#xHHH;` become one byte: the low byte of the number (C `strtol`, which
//! saturates, so an overlong number gives 0xFF). Only five named entities are known, matched
//! case-insensitively: `quot amp lt gt nbsp` (nbsp → 0xA0); any other name is kept verbatim.
//! The name is the longest run of ASCII alphanumerics, so `&ltx` is not `<x`.
//! Example: `SecRule ARGS "@rx <script" "id:1,t:htmlEntityDecode"` sees `&lt;script`.

/// C `strtol` on a run of digits in `radix`: saturating at `i64::MAX` (glibc's `LONG_MAX`),
/// then truncated to a byte by the caller's `(unsigned char)` cast.
fn strtol_low_byte(digits: &[u8], radix: u32) -> u8 {
    let mut v: i64 = 0;
    for &d in digits {
        let n = i64::from(super::nibble(d));
        v = match v
            .checked_mul(i64::from(radix))
            .and_then(|x| x.checked_add(n))
        {
            Some(x) => x,
            None => return 0xff,
        };
    }
    (v & 0xff) as u8
}

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len());
    let len = input.len();
    let mut i = 0;
    loop {
        i = super::copy_until(input, i, out, b'&');
        let Some(&b) = input.get(i) else { break };
        // How many input bytes to copy verbatim when no entity is decoded here.
        let mut copy = 1;
        if b == b'&' && i + 1 < len {
            let mut j = i + 1;
            if input.get(j) == Some(&b'#') {
                copy += 1;
                if j + 1 < len {
                    j += 1;
                    let hex = matches!(input.get(j), Some(b'x' | b'X'));
                    let mut ok = true;
                    if hex {
                        copy += 1;
                        ok = j + 1 < len;
                        j += 1;
                    }
                    if ok {
                        let k = j;
                        let is_digit = |c: u8| {
                            if hex {
                                c.is_ascii_hexdigit()
                            } else {
                                c.is_ascii_digit()
                            }
                        };
                        while input.get(j).is_some_and(|&c| is_digit(c)) {
                            j += 1;
                        }
                        if j > k {
                            let digits = input.get(k..j).unwrap_or_default();
                            out.push(strtol_low_byte(digits, if hex { 16 } else { 10 }));
                            i = if input.get(j) == Some(&b';') {
                                j + 1
                            } else {
                                j
                            };
                            continue;
                        }
                    }
                }
            } else {
                let k = j;
                while input.get(j).is_some_and(u8::is_ascii_alphanumeric) {
                    j += 1;
                }
                if j > k {
                    let name = input.get(k..j).unwrap_or_default();
                    let decoded = [
                        (&b"quot"[..], b'"'),
                        (b"amp", b'&'),
                        (b"lt", b'<'),
                        (b"gt", b'>'),
                        (b"nbsp", 0xa0),
                    ]
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|&(_, c)| c);
                    match decoded {
                        Some(c) => {
                            out.push(c);
                            i = if input.get(j) == Some(&b';') {
                                j + 1
                            } else {
                                j
                            };
                            continue;
                        }
                        None => copy = j - k + 1,
                    }
                }
            }
        }
        let end = (i + copy).min(len);
        out.extend_from_slice(input.get(i..end).unwrap_or_default());
        i = end;
    }
}

#[cfg(test)]
mod tests {
    fn run(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        super::apply(input, &mut out);
        out
    }

    #[test]
    fn named_and_numeric() {
        assert_eq!(run(b"&lt;&GT&amp;&quot;&nbsp;"), b"<>&\"\xa0");
        assert_eq!(
            run(b"&#60;&#x3c&#X3C;&#0000000000000000000000000060;"),
            b"<<<<"
        );
        assert_eq!(run(b"&#99999999999999999999;&#x141;"), b"\xff\x41");
    }

    #[test]
    fn unknown_or_incomplete_kept() {
        assert_eq!(run(b"&foo;&ltx;&#;&#x;&#&"), b"&foo;&ltx;&#;&#x;&#&");
        assert_eq!(run(b"&#x"), b"&#x");
    }
}
