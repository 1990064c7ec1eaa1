//! `t:normalizePath` (also `normalisePath`): removes `./` self-references, `dir/../`
//! back-references and repeated slashes from a path, in the manner of ModSecurity.
//!
//! libmodsecurity3's normaliser works in place with a read and a write cursor; this module
//! follows the same state machine (root-hit tracking for relative paths, a `..` that would
//! climb above the start is kept for relative paths and dropped for absolute ones, a trailing
//! slash kept only if the input had one) so results match byte for byte (measured), quirks
//! included: a trailing `..` is a back-reference even without a slash (`ab..` → empty,
//! `x/ab..` → `x`), a lone `.` vanishes. `win` also treats `\` as `/` (`normalize_path_win`).
//! Example: `SecRule REQUEST_FILENAME "@rx /etc/passwd" "id:1,t:normalizePath"`.

/// Normalises `input` into `out` (already cleared). `win` makes `\` a separator too.
pub(super) fn normalize(input: &[u8], out: &mut Vec<u8>, win: bool) {
    out.extend_from_slice(input);
    // Without a separator only a trailing '.' can change anything (the C code treats a
    // trailing ".." as a back-reference even then), so most values are returned as they are.
    let has_sep = if win {
        memchr::memchr2(b'/', b'\\', input).is_some()
    } else {
        memchr::memchr(b'/', input).is_some()
    };
    if input.is_empty() || (!has_sep && input.last() != Some(&b'.')) {
        return;
    }
    let buf = out;
    let sep = |b: u8| b == b'/' || (win && b == b'\\');
    let end = buf.len() as isize - 1;
    let get = |buf: &Vec<u8>, p: isize| {
        usize::try_from(p)
            .ok()
            .and_then(|p| buf.get(p).copied())
            .unwrap_or(0)
    };
    let relative = !sep(get(buf, 0));
    let trailing = sep(get(buf, end));
    let (mut src, mut dst): (isize, isize) = (0, 0);
    let mut hitroot = false;
    let mut done = false;

    while !done && src <= end && dst <= end {
        if win {
            for p in [src, src + 1] {
                if p <= end && get(buf, p) == b'\\' {
                    if let Some(b) = usize::try_from(p).ok().and_then(|p| buf.get_mut(p)) {
                        *b = b'/';
                    }
                }
            }
        }
        // Segment handling happens only at the end of a segment (or of the input).
        let mut skip_copy = false;
        let at_segment_end = if src == end {
            done = true;
            true
        } else {
            get(buf, src + 1) == b'/'
        };
        if at_segment_end {
            let c = get(buf, src);
            if src != end && c == b'/' {
                // Empty segment: the copy step below collapses the slashes.
            } else if c == b'.' {
                if dst > 0 && get(buf, dst - 1) == b'.' {
                    // A back-reference "..".
                    if relative && (hitroot || dst - 2 <= 0) {
                        hitroot = true;
                    } else {
                        dst -= 3;
                        while dst > 0 && get(buf, dst) != b'/' {
                            dst -= 1;
                        }
                        if dst <= 0 {
                            hitroot = true;
                            dst = 0;
                            if !relative && src == end {
                                dst += 1;
                            }
                        }
                        if done {
                            break;
                        }
                        src += 1;
                    }
                } else if dst == 0 {
                    // A leading "./" (relative self-reference).
                    if done {
                        break;
                    }
                    src += 1;
                } else if get(buf, dst - 1) == b'/' {
                    // A "/./" self-reference.
                    if done {
                        break;
                    }
                    dst -= 1;
                    src += 1;
                }
            } else if dst > 0 {
                hitroot = false;
            }
        }
        // Copy step: skip to the last of several slashes.
        if get(buf, src) == b'/' {
            while src < end && sep(get(buf, src + 1)) {
                src += 1;
            }
            if relative && dst == 0 {
                src += 1;
                skip_copy = true;
            }
        }
        if !skip_copy {
            let b = get(buf, src);
            if let Some(d) = usize::try_from(dst).ok().and_then(|d| buf.get_mut(d)) {
                *d = b;
            }
            dst += 1;
            src += 1;
        }
    }
    if !trailing && dst > 0 && get(buf, dst - 1) == b'/' {
        dst -= 1;
    }
    buf.truncate(usize::try_from(dst).unwrap_or(0));
}

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    normalize(input, out, false);
}

#[cfg(test)]
mod tests {
    fn run(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        super::apply(input, &mut out);
        out
    }

    #[test]
    fn normalises() {
        assert_eq!(run(b"/a/b/../c/./d//e"), b"/a/c/d/e");
        assert_eq!(run(b"/../../etc/passwd"), b"/etc/passwd");
        assert_eq!(run(b"a/../../b"), b"../b");
        assert_eq!(run(b"./a/"), b"a/");
        assert_eq!(run(b"a\\..\\b"), b"a\\..\\b");
        assert_eq!(run(b"ab.."), b"");
        assert_eq!(run(b"x/ab.."), b"x");
        assert_eq!(run(b"."), b"");
        assert_eq!(run(b"a.."), b"a..");
    }
}
