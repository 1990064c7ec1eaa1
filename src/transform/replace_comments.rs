//! `t:replaceComments`: replaces each C comment `/* … */` with one space; an unterminated
//! comment runs to the end of the value and also becomes one space. A lone `*/` is kept.
//!
//! Example: `SecRule ARGS "@rx union select" "id:1,t:replaceComments"` sees `union/**/select`.

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len());
    let mut in_comment = false;
    let mut i = 0;
    while i < input.len() {
        if !in_comment {
            i = super::copy_until(input, i, out, b'/');
        }
        let Some(&b) = input.get(i) else { break };
        let next = input.get(i + 1).copied();
        if !in_comment {
            if next == Some(b'*') {
                in_comment = true;
                i += 2;
            } else {
                out.push(b);
                i += 1;
            }
        } else if b == b'*' && next == Some(b'/') {
            in_comment = false;
            out.push(b' ');
            i += 2;
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
    #[test]
    fn replaces() {
        let mut out = Vec::new();
        super::apply(b"a/*x*/b*/c/*d", &mut out);
        assert_eq!(out, b"a b*/c ");
    }
}
