//! `t:cmdLine`: normalises a command line the way ModSecurity does for RCE rules.
//!
//! Deletes `\ " ' ^`; turns each run of space, tab, CR, LF, `,` and `;` into one space (the
//! deleted characters do not end a run); removes a space right before `/` or `(`; lowercases
//! ASCII letters. Bytes ≥ 0x80 pass through.
//! Example: `SecRule ARGS "@rx (?:;|\|)\s*cat\s+/etc" "id:1,t:cmdLine"` sees `c^at  /etc`.

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len());
    let mut in_space = false;
    for &b in input {
        match b {
            b'"' | b'\'' | b'\\' | b'^' => {}
            b' ' | b',' | b';' | b'\t' | b'\r' | b'\n' => {
                if !in_space {
                    out.push(b' ');
                    in_space = true;
                }
            }
            b'/' | b'(' => {
                if in_space {
                    out.pop();
                }
                in_space = false;
                out.push(b);
            }
            _ => {
                out.push(b.to_ascii_lowercase());
                in_space = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn normalises() {
        let mut out = Vec::new();
        super::apply(b"C^aT \"/etc/pass'wd\" ;, x (y)", &mut out);
        assert_eq!(out, b"cat/etc/passwd x(y)");
    }
}
