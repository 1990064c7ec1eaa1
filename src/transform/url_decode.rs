//! `t:urlDecode`: decodes `%XX` escapes and `+` → space (ModSecurity's non-strict decoder).
//!
//! An invalid escape (`%` not followed by two hex digits, or too close to the end) is kept
//! literally; nothing is an error. `%uXXXX` is not decoded here (see `urlDecodeUni`).
//! Example: `SecRule ARGS "@rx <script" "id:1,t:urlDecode"` (CRS 3.3 uses it on REQUEST_URI).

use super::{copy_plus_to_space, is_hex, x2c};

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len());
    let mut i = 0;
    loop {
        i = copy_plus_to_space(input, i, out);
        let Some(&b) = input.get(i) else { break };
        match b {
            b'%' => match (input.get(i + 1), input.get(i + 2)) {
                (Some(&h), Some(&l)) if is_hex(h) && is_hex(l) => {
                    out.push(x2c(h, l));
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_and_keeps_invalid() {
        let mut out = Vec::new();
        out.clear();
        super::apply(b"a%41+%zz%4%", &mut out);
        assert_eq!(out, b"aA %zz%4%");
        out.clear();
        super::apply(b"%u0041", &mut out);
        assert_eq!(out, b"%u0041");
    }
}
