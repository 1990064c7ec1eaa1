//! `t:uppercase`: ASCII `a-z` → `A-Z`; every other byte is unchanged ("C" locale `toupper`).
//!
//! Example: `SecRule ARGS "@streq ADMIN" "id:1,t:uppercase"`.

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.extend(input.iter().map(u8::to_ascii_uppercase));
}

#[cfg(test)]
mod tests {
    #[test]
    fn ascii_only() {
        let mut out = Vec::new();
        super::apply(b"aBc\xe4z", &mut out);
        assert_eq!(out, b"ABC\xe4Z");
    }
}
