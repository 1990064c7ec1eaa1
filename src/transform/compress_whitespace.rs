//! `t:compressWhitespace`: every run of C-locale whitespace (space, `\t\n\v\f\r`) becomes one
//! space. Unlike ModSecurity v2, libmodsecurity3 does not treat 0xA0 as whitespace here.
//!
//! Example: `SecRule ARGS "@rx union select" "id:1,t:compressWhitespace"`.

use super::is_c_space;

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len());
    let mut i = 0;
    while i < input.len() {
        i = super::copy_plain(input, i, out, is_c_space);
        let run = input.get(i..).unwrap_or_default();
        let n = run.iter().take_while(|&&b| is_c_space(b)).count();
        if n > 0 {
            out.push(b' ');
        }
        i += n;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_collapse() {
        let mut out = Vec::new();
        super::apply(b" a \t\r\nb\x0c", &mut out);
        assert_eq!(out, b" a b ");
    }
}
