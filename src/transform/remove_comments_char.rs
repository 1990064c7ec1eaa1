//! `t:removeCommentsChar`: deletes comment *markers*, keeping what is between them.
//!
//! Scanning left to right, each of `/*`, `*/`, `<!--`, `-->`, `--` and `#` is removed where it
//! starts (longer markers win: `-->` before `--`). Everything else is kept.
//! Example: `SecRule ARGS "@rx select" "id:1,t:removeCommentsChar"` sees `sel/**/ect`.

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len());
    let mut i = 0;
    loop {
        i = super::copy_plain(input, i, out, |b| {
            matches!(b, b'/' | b'*' | b'<' | b'-' | b'#')
        });
        let Some(&b) = input.get(i) else { break };
        let rest = input.get(i..).unwrap_or_default();
        let skip = if rest.starts_with(b"/*") || rest.starts_with(b"*/") {
            2
        } else if rest.starts_with(b"<!--") {
            4
        } else if rest.starts_with(b"-->") {
            3
        } else if rest.starts_with(b"--") {
            2
        } else if b == b'#' {
            1
        } else {
            out.push(b);
            1
        };
        i += skip;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn removes_markers() {
        let mut out = Vec::new();
        super::apply(b"a/*b*/c<!--d-->e--f#g", &mut out);
        assert_eq!(out, b"abcdefg");
    }
}
