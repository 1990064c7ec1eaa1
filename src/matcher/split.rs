//! Splitting a regex Hyperscan finds "too large" into smaller regexes whose union is the same
//! language, so each piece can still be matched exactly by Hyperscan instead of by a loose
//! prefilter plus PCRE2 on every value (CRS v4's 932xxx command lists are the case in point).
//!
//! `X(?:A|B|C)Y` matches exactly when `X(?:A)Y`, `X(?:B|C)Y` or ... does, provided the group and
//! every group around it is a plain (non-atomic, non-lookaround) unquantified group and no inline
//! option inside the group leaks from one branch into the next. Only the boolean "does it
//! match" survives the split (capture numbering does not), which is all Hyperscan answers anyway;
//! PCRE2 keeps the original pattern. Refuses anything it does not fully understand (`\Q`,
//! extended mode, comments, verbs): `None` means "do not split".

/// A pattern seen as `prefix (branch | branch | ...) suffix` around one alternation.
#[derive(Debug, PartialEq, Eq)]
pub struct Split<'a> {
    prefix: String,
    branches: Vec<&'a str>,
    suffix: &'a str,
    /// The branch index that halves the alternation's bytes most evenly.
    mid: usize,
}

impl Split<'_> {
    /// Number of branches of the chosen alternation.
    pub fn len(&self) -> usize {
        self.branches.len()
    }

    /// Where to cut the branches in two for pieces of about equal size (1..len).
    pub fn mid(&self) -> usize {
        self.mid
    }

    /// The pattern restricted to branches `range`.
    pub fn piece(&self, range: std::ops::Range<usize>) -> String {
        let body = self.branches.get(range).unwrap_or(&[]).join("|");
        format!("{}{body}{}", self.prefix, self.suffix)
    }
}

#[derive(Debug)]
struct Group {
    /// Index of `(`; `None` for the whole pattern.
    open: Option<usize>,
    /// What replaces the opener in pieces (`(?:`, `(?i:`), empty for the whole pattern.
    opener: String,
    body_start: usize,
    close: usize,
    seps: Vec<usize>,
    /// Plain grouping (capturing, `(?:`, `(?flags:`, named): splitting it is sound.
    plain: bool,
    quantified: bool,
    /// An inline `(?i)`-style option directly inside: it would leak across branches.
    has_option: bool,
    parent: Option<usize>,
}

/// Finds the splittable alternation whose halving shrinks the pattern most: the one whose
/// smaller half (cut at the branch boundary nearest its byte midpoint) is largest.
pub fn split(p: &str) -> Option<Split<'_>> {
    let b = p.as_bytes();
    let mut groups = vec![Group {
        open: None,
        opener: String::new(),
        body_start: 0,
        close: b.len(),
        seps: Vec::new(),
        plain: true,
        quantified: false,
        has_option: false,
        parent: None,
    }];
    let mut stack = vec![0usize];
    let mut i = 0;
    while i < b.len() {
        let top = *stack.last()?;
        match b[i] {
            b'\\' => match b.get(i + 1)? {
                b'Q' => return None,
                b'c' => i += 3,
                _ => i += 2,
            },
            b'[' => i = class_end(b, i)? + 1,
            b'|' => {
                groups.get_mut(top)?.seps.push(i);
                i += 1;
            }
            b'(' => {
                let (plain, opener, body_start, option_only) = group_kind(p, i)?;
                if option_only {
                    groups.get_mut(top)?.has_option = true;
                    i = body_start;
                    continue;
                }
                groups.push(Group {
                    open: Some(i),
                    opener,
                    body_start,
                    close: 0,
                    seps: Vec::new(),
                    plain,
                    quantified: false,
                    has_option: false,
                    parent: Some(top),
                });
                stack.push(groups.len() - 1);
                i = body_start;
            }
            b')' => {
                if stack.len() < 2 {
                    return None;
                }
                let g = groups.get_mut(stack.pop()?)?;
                g.close = i;
                g.quantified = matches!(b.get(i + 1), Some(b'*' | b'+' | b'?' | b'{'));
                i += 1;
            }
            _ => i += 1,
        }
    }
    if stack.len() != 1 {
        return None;
    }
    let sound = |mut g: usize| -> bool {
        loop {
            let Some(gr) = groups.get(g) else {
                return false;
            };
            if !gr.plain || gr.quantified {
                return false;
            }
            match gr.parent {
                Some(parent) => g = parent,
                None => return true,
            }
        }
    };
    let best = (0..groups.len())
        .filter(|&g| {
            groups
                .get(g)
                .is_some_and(|gr| !gr.seps.is_empty() && !gr.has_option)
                && sound(g)
        })
        .filter_map(|g| {
            let gr = groups.get(g)?;
            let (mid, smaller) = best_cut(gr);
            Some((smaller, g, mid))
        })
        .max();
    let (_, best, mid) = best?;
    let g = groups.get(best)?;
    let mut branches = Vec::with_capacity(g.seps.len() + 1);
    let mut start = g.body_start;
    for &s in g.seps.iter().chain(std::iter::once(&g.close)) {
        branches.push(p.get(start..s)?);
        start = s + 1;
    }
    let (prefix, suffix) = match g.open {
        Some(open) => (format!("{}{}", p.get(..open)?, g.opener), p.get(g.close..)?),
        None => (String::new(), ""),
    };
    Some(Split {
        prefix,
        branches,
        suffix,
        mid,
    })
}

/// For a group with separators: (branch index to cut before, bytes of the smaller side).
fn best_cut(g: &Group) -> (usize, usize) {
    let total = g.close.saturating_sub(g.body_start);
    let mut best = (1, 0);
    for (k, &sep) in g.seps.iter().enumerate() {
        let left = sep.saturating_sub(g.body_start);
        let smaller = left.min(total.saturating_sub(left + 1));
        if smaller >= best.1 {
            best = (k + 1, smaller);
        }
    }
    best
}

/// Index of the `]` closing the class opened at `i`.
fn class_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if b.get(j) == Some(&b'^') {
        j += 1;
    }
    if b.get(j) == Some(&b']') {
        j += 1;
    }
    loop {
        match *b.get(j)? {
            b'\\' => {
                if b.get(j + 1) == Some(&b'Q') {
                    return None;
                }
                j += 2;
            }
            b'[' if b.get(j + 1) == Some(&b':') => {
                // POSIX class `[:alpha:]`: skip to its `:]`.
                let rest = b.get(j + 2..)?;
                let k = rest.windows(2).position(|w| w == b":]")?;
                j += 2 + k + 2;
            }
            b']' => return Some(j),
            _ => j += 1,
        }
    }
}

/// Classifies the group opened at `i`: (plain, opener for pieces, body start, option-only).
fn group_kind(p: &str, i: usize) -> Option<(bool, String, usize, bool)> {
    let b = p.as_bytes();
    match b.get(i + 1) {
        Some(b'?') => {}
        Some(b'*') => return None, // verbs such as (*UTF)
        _ => return Some((true, String::from("(?:"), i + 1, false)),
    }
    match *b.get(i + 2)? {
        b':' => Some((true, String::from("(?:"), i + 3, false)),
        b'<' if matches!(b.get(i + 3), Some(b'=' | b'!')) => {
            Some((false, String::new(), i + 4, false))
        }
        b'<' | b'\'' => {
            let close = if b.get(i + 2) == Some(&b'<') {
                b'>'
            } else {
                b'\''
            };
            let k = b.get(i + 3..)?.iter().position(|&c| c == close)?;
            Some((true, String::from("(?:"), i + 3 + k + 1, false))
        }
        b'P' if b.get(i + 3) == Some(&b'<') => {
            let k = b.get(i + 4..)?.iter().position(|&c| c == b'>')?;
            Some((true, String::from("(?:"), i + 4 + k + 1, false))
        }
        b'#' => None,
        c if c.is_ascii_alphabetic() || c == b'-' || c == b'^' => {
            let mut j = i + 2;
            while b
                .get(j)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'-' || *c == b'^')
            {
                j += 1;
            }
            let flags = p.get(i + 2..j)?;
            if flags.contains('x') || flags.bytes().any(|c| c.is_ascii_uppercase()) {
                return None; // extended mode / (?P=name) / (?R): do not pretend to understand
            }
            match b.get(j)? {
                b':' => Some((true, format!("(?{flags}:"), j + 1, false)),
                b')' => Some((false, String::new(), j + 1, true)),
                _ => None,
            }
        }
        // Lookahead, atomic, conditional, branch reset, recursion, subroutine calls.
        _ => Some((false, String::new(), i + 2, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(p: &str) -> Option<Vec<String>> {
        let s = split(p)?;
        Some((0..s.len()).map(|k| s.piece(k..k + 1)).collect())
    }

    #[test]
    fn cuts_the_alternation_that_shrinks_the_pattern_most() {
        // Three short branches outside, two long ones inside: the long ones win.
        let s = split("(?:a|b|c)x(?:long-branch-one|long-branch-two)").expect("split");
        assert_eq!(s.len(), 2);
        assert_eq!(s.mid(), 1);
        assert_eq!(s.piece(0..1), "(?:a|b|c)x(?:long-branch-one)");
        // The cut lands at the byte midpoint, not the branch midpoint.
        let s = split("(?:aaaaaaaaaaaa|b|c|d)").expect("split");
        assert_eq!(s.mid(), 1);
    }

    #[test]
    fn splits_a_plain_alternation() {
        assert_eq!(
            pieces(r"(?i)x(?:ab|c[|)]|d(e|f))y$").expect("split"),
            vec![r"(?i)x(?:ab)y$", r"(?i)x(?:c[|)])y$", r"(?i)x(?:d(e|f))y$"]
        );
        assert_eq!(pieces("a|b").expect("split"), vec!["a", "b"]);
        assert_eq!(
            pieces(r"^(?<n>a|b)\|c").expect("split"),
            vec![r"^(?:a)\|c", r"^(?:b)\|c"]
        );
        assert_eq!(
            pieces("z(?i:a|b)").expect("split"),
            vec!["z(?i:a)", "z(?i:b)"]
        );
        let s = split("(a|b|c|d)").expect("split");
        assert_eq!(s.piece(0..2), "(?:a|b)");
        assert_eq!(s.piece(2..4), "(?:c|d)");
    }

    #[test]
    fn refuses_unsound_or_unknown_shapes() {
        assert_eq!(split("x(?:a|b)+"), None, "quantified group");
        assert_eq!(split("(?:x(?:a|b))*"), None, "quantified ancestor");
        assert_eq!(split("(?!a|b)c"), None, "lookahead");
        assert_eq!(split("(?>a|ab)c"), None, "atomic");
        assert_eq!(
            split("(?:a(?i)b|c)"),
            None,
            "option leaks into the next branch"
        );
        assert_eq!(split(r"\Qa|b\E"), None);
        assert_eq!(split("(?x)a | b"), None);
        assert_eq!(split("abc"), None, "nothing to split");
        assert_eq!(split("a(b|c"), None, "unbalanced");
        assert_eq!(split("a)b|c"), None, "unbalanced");
        assert_eq!(split("[a|b]"), None, "`|` in a class");
        assert_eq!(split(r"[[:alpha:]|]x"), None, "POSIX class");
    }

    #[test]
    fn option_before_the_group_is_kept() {
        assert_eq!(
            pieces("(?i)(?:a|b)").expect("split"),
            vec!["(?i)(?:a)", "(?i)(?:b)"]
        );
    }
}
