//! `t:normalizePathWin` (also `normalisePathWin`): `t:normalizePath` with `\` converted to `/`
//! first, so Windows-style traversal (`..\..\boot.ini`) is normalised too.
//!
//! Example: `SecRule ARGS "@rx /boot\.ini" "id:1,t:normalizePathWin"`.

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    super::normalize_path::normalize(input, out, true);
}

#[cfg(test)]
mod tests {
    #[test]
    fn backslashes() {
        let mut out = Vec::new();
        super::apply(b"c:\\a\\..\\b\\\\c", &mut out);
        assert_eq!(out, b"c:/b/c");
    }
}
