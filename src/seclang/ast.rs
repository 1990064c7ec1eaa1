//! The SecLang abstract syntax tree: directives, variable selectors, operators, actions.
//!
//! Owns the shapes only, plus the small parsers for the three SecRule arguments
//! (`ARGS|!ARGS:id|&TX:x|TX:/re/`, `!@op arg`, `id:1,msg:'…'`). Names are kept as written
//! (variables upper-cased, action names lower-cased); meaning is assigned by `compile`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a directive was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The file, as it was opened.
    pub file: Arc<PathBuf>,
    /// 1-based line of the directive's first line.
    pub line: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A variable key selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// `ARGS:name` (compared case-insensitively where ModSecurity does).
    Name(String),
    /// `ARGS:/regex/` or `ARGS:'/regex/'`.
    Regex(String),
}

/// One element of a SecRule target list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarSel {
    /// `!VAR:key`: remove matching values from the rule's targets.
    pub negated: bool,
    /// `&VAR`: the number of values instead of the values.
    pub count: bool,
    /// Upper-cased collection/variable name.
    pub name: String,
    /// Optional key selector.
    pub key: Option<Key>,
}

/// The operator argument of a SecRule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorAst {
    /// `!@op`: the rule matches when the operator does not.
    pub negated: bool,
    /// Operator name without `@`, as written (`rx` when implicit).
    pub name: String,
    /// The argument text after the name and one separating blank.
    pub arg: String,
}

/// One action, `name` or `name:value` (value unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Lower-cased action name.
    pub name: String,
    /// The value after `:`, quotes removed.
    pub value: Option<String>,
}

/// A `SecRule` (or `SecAction`, which has no targets and no operator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleAst {
    /// Where it was written.
    pub span: Span,
    /// Targets, empty for `SecAction`.
    pub vars: Vec<VarSel>,
    /// Operator, `None` for `SecAction` (always matches).
    pub op: Option<OperatorAst>,
    /// Actions in written order.
    pub actions: Vec<Action>,
}

/// An inclusive id range of `SecRuleRemoveById` and friends.
pub type IdRange = (u32, u32);

/// One configuration directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    /// `SecRule` / `SecAction`.
    Rule(RuleAst),
    /// `SecMarker NAME`.
    Marker(String, Span),
    /// `SecDefaultAction "…"`.
    DefaultAction(Vec<Action>, Span),
    /// `SecRuleRemoveById 1 2 3-5`.
    RemoveById(Vec<IdRange>, Span),
    /// `SecRuleRemoveByTag tag-regex`.
    RemoveByTag(String, Span),
    /// `SecRuleRemoveByMsg msg-regex`.
    RemoveByMsg(String, Span),
    /// `SecRuleUpdateTargetById 1-3 "ARGS|!ARGS:x"`.
    UpdateTargetById(Vec<IdRange>, Vec<VarSel>, Span),
    /// `SecRuleUpdateTargetByTag tag "targets"`.
    UpdateTargetByTag(String, Vec<VarSel>, Span),
    /// `SecRuleUpdateTargetByMsg msg "targets"`.
    UpdateTargetByMsg(String, Vec<VarSel>, Span),
    /// `SecRuleUpdateActionById id "actions"`.
    UpdateActionById(u32, Vec<Action>, Span),
    /// Any other directive that sets an engine option (`SecRuleEngine On`, body limits …):
    /// the canonical directive name and its arguments.
    Setting(String, Vec<String>, Span),
}

/// Parses a SecRule target list.
pub fn parse_vars(s: &str) -> Result<Vec<VarSel>, String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b'|' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let mut sel = VarSel {
            negated: false,
            count: false,
            name: String::new(),
            key: None,
        };
        if b[i] == b'!' {
            sel.negated = true;
            i += 1;
        }
        if i < b.len() && b[i] == b'&' {
            sel.count = true;
            i += 1;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if start == i {
            return Err(format!("expected a variable name at {:?}", &s[start..]));
        }
        sel.name = s[start..i].to_ascii_uppercase();
        if i < b.len() && (b[i] == b':' || b[i] == b'.') {
            i += 1;
            if sel.name == "XML" {
                // XPath expressions (`/*`, `//@*`) are keys, not regexes.
                let start = i;
                while i < b.len() && b[i] != b'|' {
                    i += 1;
                }
                sel.key = Some(Key::Name(s[start..i].trim().to_string()));
            } else if i < b.len() && b[i] == b'/' {
                let (re, next) = scan_regex(s, i + 1, b'/')?;
                sel.key = Some(Key::Regex(re));
                i = next;
            } else if i + 1 < b.len() && b[i] == b'\'' && b[i + 1] == b'/' {
                let end = s[i + 1..]
                    .find('\'')
                    .map(|p| p + i + 1)
                    .ok_or_else(|| format!("unterminated quoted key in {s:?}"))?;
                let inner = &s[i + 2..end];
                let re = inner.strip_suffix('/').unwrap_or(inner);
                sel.key = Some(Key::Regex(re.to_string()));
                i = end + 1;
            } else if i < b.len() && b[i] == b'\'' {
                let end = s[i + 1..]
                    .find('\'')
                    .map(|p| p + i + 1)
                    .ok_or_else(|| format!("unterminated quoted key in {s:?}"))?;
                sel.key = Some(Key::Name(s[i + 1..end].to_string()));
                i = end + 1;
            } else {
                let start = i;
                while i < b.len() && b[i] != b'|' {
                    i += 1;
                }
                let k = s[start..i].trim();
                if !k.is_empty() {
                    sel.key = Some(Key::Name(k.to_string()));
                }
            }
        }
        out.push(sel);
    }
    if out.is_empty() {
        return Err("empty variable list".into());
    }
    Ok(out)
}

/// Scans a `/…/` regex body starting after the opening slash; `\/` is an escaped slash.
fn scan_regex(s: &str, start: usize, close: u8) -> Result<(String, usize), String> {
    let b = s.as_bytes();
    let mut i = start;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == close {
            return Ok((s[start..i].to_string(), i + 1));
        }
        i += 1;
    }
    Err(format!("unterminated regex key in {s:?}"))
}

/// Parses the operator argument (`!@rx foo`, `@eq 0`, or an implicit regex).
pub fn parse_operator(s: &str) -> OperatorAst {
    let mut rest = s.trim_start();
    let mut negated = false;
    if let Some(r) = rest.strip_prefix('!') {
        negated = true;
        rest = r.trim_start();
    }
    if let Some(r) = rest.strip_prefix('@') {
        let end = r.find(|c: char| c.is_whitespace()).unwrap_or(r.len());
        let name = r[..end].to_string();
        let arg = r[end..].strip_prefix([' ', '\t']).unwrap_or(&r[end..]);
        OperatorAst {
            negated,
            name,
            arg: arg.to_string(),
        }
    } else {
        OperatorAst {
            negated,
            name: "rx".into(),
            arg: rest.to_string(),
        }
    }
}

/// Parses an action list: comma-separated, values may be single-quoted.
pub fn parse_actions(s: &str) -> Result<Vec<Action>, String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b',' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && b[i] != b':' && b[i] != b',' {
            i += 1;
        }
        let name = s[start..i].trim().to_ascii_lowercase();
        if name.is_empty() {
            return Err(format!("empty action name in {s:?}"));
        }
        let mut value = None;
        if i < b.len() && b[i] == b':' {
            i += 1;
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            if i < b.len() && b[i] == b'\'' {
                i += 1;
                let mut v = String::new();
                let mut closed = false;
                while i < b.len() {
                    let c = s[i..].chars().next().unwrap_or('\0');
                    if c == '\\' && b.get(i + 1) == Some(&b'\'') {
                        v.push('\'');
                        i += 2;
                        continue;
                    }
                    if c == '\'' {
                        closed = true;
                        i += 1;
                        break;
                    }
                    v.push(c);
                    i += c.len_utf8();
                }
                if !closed {
                    return Err(format!("unterminated quote in action {name}"));
                }
                value = Some(v);
            } else {
                let start = i;
                while i < b.len() && b[i] != b',' {
                    i += 1;
                }
                value = Some(s[start..i].trim_end().to_string());
            }
        }
        out.push(Action { name, value });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_with_keys_regexes_and_counts() {
        let v = parse_vars("REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|&TX:x|ARGS:'/^a|b$/'|XML:/*")
            .unwrap();
        assert_eq!(v.len(), 5);
        assert!(v[1].negated);
        assert_eq!(v[1].key, Some(Key::Regex("__utm".into())));
        assert!(v[2].count);
        assert_eq!(v[2].key, Some(Key::Name("x".into())));
        assert_eq!(v[3].key, Some(Key::Regex("^a|b$".into())));
        assert_eq!(v[4].key, Some(Key::Name("/*".into())));
    }

    #[test]
    fn operator_forms() {
        let o = parse_operator("!@eq 0");
        assert!(o.negated);
        assert_eq!((o.name.as_str(), o.arg.as_str()), ("eq", "0"));
        let o = parse_operator("^(?:GET|HEAD)$");
        assert_eq!((o.name.as_str(), o.arg.as_str()), ("rx", "^(?:GET|HEAD)$"));
        let o = parse_operator("@unconditionalMatch");
        assert_eq!(o.arg, "");
    }

    #[test]
    fn actions_with_quoted_values() {
        let a =
            parse_actions("id:1,phase:2,msg:'a, b',setvar:'tx.x=+%{tx.y}',t:none,pass").unwrap();
        assert_eq!(a.len(), 6);
        assert_eq!(a[2].value.as_deref(), Some("a, b"));
        assert_eq!(a[3].value.as_deref(), Some("tx.x=+%{tx.y}"));
        assert_eq!(
            a[5],
            Action {
                name: "pass".into(),
                value: None
            }
        );
    }
}
