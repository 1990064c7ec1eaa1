//! `t:removeComments`: deletes `/* … */` and `<!-- … -->` comments and truncates at `--` or `#`.
//!
//! libmodsecurity3 quirks, kept for fidelity (measured): the byte right after a closing `*/`
//! or `-->` is copied without being examined (so it may open no new comment), and when the
//! closing marker ends the value that "byte" is the C string's terminating NUL, which appears
//! in the output. An unterminated comment becomes one space.
//! Example: `SecRule ARGS "@rx select" "id:1,t:removeComments"`.

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    // The C code works on a NUL-terminated copy and may read the terminator.
    let at = |p: usize| input.get(p).copied().unwrap_or(0);
    let len = input.len();
    out.reserve(len);
    let mut in_comment = false;
    let mut i = 0;
    while i < len {
        if !in_comment {
            if at(i) == b'/' && i + 1 < len && at(i + 1) == b'*' {
                in_comment = true;
                i += 2;
            } else if at(i) == b'<' && i + 3 < len && input.get(i + 1..i + 4) == Some(b"!--") {
                in_comment = true;
                i += 4;
            } else if (at(i) == b'-' && i + 1 < len && at(i + 1) == b'-') || at(i) == b'#' {
                break;
            } else {
                out.push(at(i));
                i += 1;
            }
        } else if at(i) == b'*' && i + 1 < len && at(i + 1) == b'/' {
            in_comment = false;
            i += 2;
            out.push(at(i));
            i += 1;
        } else if at(i) == b'-' && i + 2 < len && at(i + 1) == b'-' && at(i + 2) == b'>' {
            in_comment = false;
            i += 3;
            out.push(at(i));
            i += 1;
        } else {
            i += 1;
        }
    }
    if in_comment {
        out.push(b' ');
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
    fn removes_and_truncates() {
        assert_eq!(run(b"a/*x*/bc"), b"abc");
        assert_eq!(run(b"a<!--x-->bc"), b"abc");
        assert_eq!(run(b"ab--cd"), b"ab");
        assert_eq!(run(b"ab#cd"), b"ab");
        assert_eq!(run(b"ab/*cd"), b"ab ");
    }

    #[test]
    fn closing_marker_at_end_yields_nul() {
        assert_eq!(run(b"a/*x*/"), b"a\0");
    }
}
