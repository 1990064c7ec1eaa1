//! `t:trimLeft`: removes leading C-locale whitespace (space, `\t\n\v\f\r`).
//!
//! Example: `SecRule ARGS "@beginsWith admin" "id:1,t:trimLeft"`.

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(super::trim::trim_start(input));
}

#[cfg(test)]
mod tests {
    #[test]
    fn left_only() {
        let mut out = Vec::new();
        super::apply(b" \ta ", &mut out);
        assert_eq!(out, b"a ");
    }
}
