//! `t:trimRight`: removes trailing C-locale whitespace (space, `\t\n\v\f\r`).
//!
//! Example: `SecRule ARGS "@endsWith .php" "id:1,t:trimRight"`.

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(super::trim::trim_end(input));
}

#[cfg(test)]
mod tests {
    #[test]
    fn right_only() {
        let mut out = Vec::new();
        super::apply(b" a \n", &mut out);
        assert_eq!(out, b" a");
    }
}
