//! `t:cmdLine`: normalises a command line the way ModSecurity does for RCE rules.
//!
//! Deletes `\ " ' ^`; turns each run of space, tab, CR, LF, `,` and `;` into one space (the
//! deleted characters do not end a run); removes a space right before `/` or `(`; lowercases
//! ASCII letters. Bytes ≥ 0x80 pass through.
//! Example: `SecRule ARGS "@rx (?:;|\|)\s*cat\s+/etc" "id:1,t:cmdLine"` sees `c^at  /etc`.

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len());
    let special = |b: u8| {
        matches!(
            b,
            b'"' | b'\'' | b'\\' | b'^' | b' ' | b',' | b';' | b'\t' | b'\r' | b'\n' | b'/' | b'('
        )
    };
    let mut in_space = false;
    let mut i = 0;
    while i < input.len() {
        // A run of ordinary bytes is lowercased in bulk and ends any whitespace run.
        let rest = input.get(i..).unwrap_or_default();
        let n = rest.iter().position(|&b| special(b)).unwrap_or(rest.len());
        if n > 0 {
            out.extend(rest.iter().take(n).map(u8::to_ascii_lowercase));
            in_space = false;
            i += n;
            continue;
        }
        let Some(&b) = input.get(i) else { break };
        i += 1;
        match b {
            b'"' | b'\'' | b'\\' | b'^' => {}
            b'/' | b'(' => {
                if in_space {
                    out.pop();
                }
                in_space = false;
                out.push(b);
            }
            _ => {
                // Space, tab, CR, LF, ',' and ';': one space per run.
                if !in_space {
                    out.push(b' ');
                    in_space = true;
                }
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
