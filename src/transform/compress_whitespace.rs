//! `t:compressWhitespace`: every run of C-locale whitespace (space, `\t\n\v\f\r`) becomes one
//! space. Unlike ModSecurity v2, libmodsecurity3 does not treat 0xA0 as whitespace here.
//!
//! Example: `SecRule ARGS "@rx union select" "id:1,t:compressWhitespace"`.

use super::is_c_space;

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    let mut in_space = false;
    for &b in input {
        if is_c_space(b) {
            if !in_space {
                out.push(b' ');
                in_space = true;
            }
        } else {
            out.push(b);
            in_space = false;
        }
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
