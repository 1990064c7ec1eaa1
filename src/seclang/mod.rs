//! SecLang text → AST with file:line diagnostics. Knows nothing of Hyperscan.
//!
//! Owns reading configuration files (with `Include`/`IncludeOptional` and their globs,
//! resolved relative to the including file), recognising every directive the ModSecurity
//! recommended configuration and CRS 3.3/4.x use, and building [`ast::Directive`]s.
//! Directives that have no meaning for this engine (debug log, PCRE limits, …) are
//! accepted with a one-line warning. It refuses nothing silently: an unknown directive is an
//! error that names file and line. Meaning (inheritance, removal, compilation) is `compile`'s.

pub mod ast;
pub mod lexer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use ast::{Action, Directive, Key, OperatorAst, RuleAst, Span, VarSel};

/// A configuration error with the place it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Where (`None` when the top-level file itself could not be read).
    pub span: Option<Span>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.span {
            Some(s) => write!(f, "{s}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ParseError {}

/// A parsed configuration: directives in load order, and warnings for ignored directives.
#[derive(Debug, Default, Clone)]
pub struct Config {
    /// Every directive, includes expanded in place.
    pub directives: Vec<Directive>,
    /// One line per ignored directive (`file:line: SecAuditEngine ignored: …`).
    pub warnings: Vec<String>,
}

/// Includes nested deeper than this are taken for a cycle.
const MAX_INCLUDE_DEPTH: usize = 32;

/// Directives accepted and ignored, with why (a one-line warning each).
const IGNORED: &[&str] = &[
    "secauditlog2",
    "secdebuglog",
    "secdebugloglevel",
    "secpcrematchlimit",
    "secpcrematchlimitrecursion",
    "seccookieformat",
    "secunicodemapfile",
    "secunicodecodepage",
    "secstatusengine",
    "sectmpdir",
    "secdatadir",
    "secuploaddir",
    "secuploadkeepfiles",
    "secuploadfilelimit",
    "secuploadfilemode",
    "sectmpsaveuploadedfiles",
    "secserversignature",
    "secgeolookupdb",
    "secgsblookupdb",
    "sechttpblkey",
    "secwebappid",
    "secsensorid",
    "sechashengine",
    "sechashkey",
    "sechashparam",
    "sechashmethodrx",
    "sechashmethodpm",
    "secxmlexternalentity",
    "secconnengine",
    "secremoterules",
    "secremoterulesfailaction",
    "seccollectiontimeout",
    "seccomponentsignature",
    "secresponsebodymimetypesclear",
    "secinterceptonerror",
    "secconnreadstatelimit",
    "secconnwritestatelimit",
    "secdisablebackendcompression",
    "secchrootdir",
    "secguardianlog",
    "secstreaminbodyinspection",
    "secstreamoutbodyinspection",
    "secruleperftime",
    "secrulescript",
    "secmarkerstack",
];

/// Directives that set an engine option (kept as [`Directive::Setting`]).
const SETTINGS: &[&str] = &[
    "SecRuleEngine",
    "SecRequestBodyAccess",
    "SecResponseBodyAccess",
    "SecRequestBodyLimit",
    "SecRequestBodyNoFilesLimit",
    "SecRequestBodyInMemoryLimit",
    "SecRequestBodyLimitAction",
    "SecResponseBodyMimeType",
    "SecResponseBodyLimit",
    "SecResponseBodyLimitAction",
    "SecArgumentsLimit",
    "SecRequestBodyJsonDepthLimit",
    "SecArgumentSeparator",
];

/// The audit-log settings (`audit::config` gives them meaning); parsed like [`SETTINGS`].
pub const AUDIT_DIRECTIVES: &[&str] = &[
    "SecAuditEngine",
    "SecAuditLogRelevantStatus",
    "SecAuditLogParts",
    "SecAuditLogType",
    "SecAuditLog",
    "SecAuditLogStorageDir",
    "SecAuditLogFormat",
    "SecAuditLogFileMode",
    "SecAuditLogDirMode",
];

/// Reads and parses `path` and everything it includes.
pub fn parse_file(path: &Path) -> Result<Config, ParseError> {
    let mut cfg = Config::default();
    load(path, None, 0, false, &mut cfg)?;
    Ok(cfg)
}

/// Parses configuration text as if it were read from `name` (includes resolve from its dir).
pub fn parse_str(text: &str, name: &Path) -> Result<Config, ParseError> {
    let mut cfg = Config::default();
    parse_text(text, Arc::new(name.to_path_buf()), 0, &mut cfg)?;
    Ok(cfg)
}

fn load(
    path: &Path,
    from: Option<&Span>,
    depth: usize,
    optional: bool,
    cfg: &mut Config,
) -> Result<(), ParseError> {
    if depth > MAX_INCLUDE_DEPTH {
        return Err(ParseError {
            span: from.cloned(),
            message: format!("includes nested deeper than {MAX_INCLUDE_DEPTH} (a cycle?)"),
        });
    }
    let text = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) if optional => return Ok(()),
        Err(e) => {
            return Err(ParseError {
                span: from.cloned(),
                message: format!("cannot read {}: {e}", path.display()),
            })
        }
    };
    parse_text(&text, Arc::new(path.to_path_buf()), depth, cfg)
}

fn parse_text(
    text: &str,
    file: Arc<PathBuf>,
    depth: usize,
    cfg: &mut Config,
) -> Result<(), ParseError> {
    let (raw, errors) = lexer::lex(text);
    if let Some(e) = errors.into_iter().next() {
        return Err(ParseError {
            span: Some(Span {
                file: file.clone(),
                line: e.line,
            }),
            message: e.message,
        });
    }
    for d in raw {
        let span = Span {
            file: file.clone(),
            line: d.line,
        };
        let err = |message: String| ParseError {
            span: Some(span.clone()),
            message,
        };
        let name = d.tokens[0].as_str();
        let args = &d.tokens[1..];
        let lname = name.to_ascii_lowercase();
        let need = |n: usize| -> Result<(), ParseError> {
            if args.len() < n {
                Err(err(format!(
                    "{name} needs {n} argument(s), got {}",
                    args.len()
                )))
            } else {
                Ok(())
            }
        };
        match lname.as_str() {
            "include" | "includeoptional" => {
                need(1)?;
                let optional = lname == "includeoptional";
                let base = file.parent().unwrap_or(Path::new("."));
                let pattern = base.join(&args[0]);
                let paths = expand_glob(&pattern);
                if paths.is_empty() && !optional && !has_wildcard(&args[0]) {
                    return Err(err(format!("cannot read {}", pattern.display())));
                }
                for p in paths {
                    load(&p, Some(&span), depth + 1, optional, cfg)?;
                }
            }
            "secrule" => {
                need(2)?;
                let vars = ast::parse_vars(&args[0]).map_err(err)?;
                let op = ast::parse_operator(&args[1]);
                let actions = match args.get(2) {
                    Some(a) => ast::parse_actions(a).map_err(err)?,
                    None => Vec::new(),
                };
                if args.len() > 3 {
                    return Err(err(format!(
                        "SecRule takes 3 arguments, got {}",
                        args.len()
                    )));
                }
                cfg.directives.push(Directive::Rule(RuleAst {
                    span,
                    vars,
                    op: Some(op),
                    actions,
                }));
            }
            "secaction" => {
                need(1)?;
                let actions = ast::parse_actions(&args[0]).map_err(err)?;
                cfg.directives.push(Directive::Rule(RuleAst {
                    span,
                    vars: Vec::new(),
                    op: None,
                    actions,
                }));
            }
            "secmarker" => {
                need(1)?;
                cfg.directives
                    .push(Directive::Marker(args[0].clone(), span));
            }
            "secdefaultaction" => {
                need(1)?;
                let actions = ast::parse_actions(&args[0]).map_err(err)?;
                cfg.directives.push(Directive::DefaultAction(actions, span));
            }
            "secruleremovebyid" => {
                need(1)?;
                let mut ranges = Vec::new();
                for a in args {
                    for part in a.split([' ', ',']).filter(|p| !p.is_empty()) {
                        ranges.push(parse_id_range(part).map_err(err)?);
                    }
                }
                cfg.directives.push(Directive::RemoveById(ranges, span));
            }
            "secruleremovebytag" => {
                need(1)?;
                cfg.directives
                    .push(Directive::RemoveByTag(args[0].clone(), span));
            }
            "secruleremovebymsg" => {
                need(1)?;
                cfg.directives
                    .push(Directive::RemoveByMsg(args[0].clone(), span));
            }
            "secruleupdatetargetbyid" => {
                need(2)?;
                let mut ranges = Vec::new();
                for part in args[0].split([' ', ',']).filter(|p| !p.is_empty()) {
                    ranges.push(parse_id_range(part).map_err(err)?);
                }
                let vars = ast::parse_vars(&args[1]).map_err(err)?;
                cfg.directives
                    .push(Directive::UpdateTargetById(ranges, vars, span));
            }
            "secruleupdatetargetbytag" => {
                need(2)?;
                let vars = ast::parse_vars(&args[1]).map_err(err)?;
                cfg.directives
                    .push(Directive::UpdateTargetByTag(args[0].clone(), vars, span));
            }
            "secruleupdatetargetbymsg" => {
                need(2)?;
                let vars = ast::parse_vars(&args[1]).map_err(err)?;
                cfg.directives
                    .push(Directive::UpdateTargetByMsg(args[0].clone(), vars, span));
            }
            "secruleupdateactionbyid" => {
                need(2)?;
                let id_text = args[0].split(':').next().unwrap_or("");
                let id: u32 = id_text
                    .parse()
                    .map_err(|_| err(format!("bad rule id {:?}", args[0])))?;
                let actions = ast::parse_actions(&args[1]).map_err(err)?;
                cfg.directives
                    .push(Directive::UpdateActionById(id, actions, span));
            }
            _ => {
                if let Some(canon) = SETTINGS
                    .iter()
                    .chain(AUDIT_DIRECTIVES)
                    .find(|s| s.eq_ignore_ascii_case(name))
                {
                    need(1)?;
                    cfg.directives.push(Directive::Setting(
                        (*canon).to_string(),
                        args.to_vec(),
                        span,
                    ));
                } else if IGNORED.contains(&lname.as_str()) {
                    if lname != "seccomponentsignature" {
                        cfg.warnings
                            .push(format!("{span}: {name} has no effect in spoa-waf; ignored"));
                    }
                } else {
                    return Err(err(format!("unknown directive {name}")));
                }
            }
        }
    }
    Ok(())
}

/// `123` or `100-200`.
pub fn parse_id_range(s: &str) -> Result<(u32, u32), String> {
    let s = s.trim().trim_matches('"');
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, b),
        None => (s, s),
    };
    let a: u32 = a.trim().parse().map_err(|_| format!("bad rule id {s:?}"))?;
    let b: u32 = b.trim().parse().map_err(|_| format!("bad rule id {s:?}"))?;
    Ok((a.min(b), a.max(b)))
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expands a path whose last component may hold `*`/`?` wildcards; results sorted.
fn expand_glob(pattern: &Path) -> Vec<PathBuf> {
    let text = pattern.to_string_lossy();
    if !has_wildcard(&text) {
        return if pattern.exists() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let (Some(dir), Some(file_pat)) = (pattern.parent(), pattern.file_name()) else {
        return Vec::new();
    };
    let file_pat = file_pat.to_string_lossy();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .filter(|e| {
            wildcard_match(
                file_pat.as_bytes(),
                e.file_name().to_string_lossy().as_bytes(),
            )
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Shell-style `*`/`?` matching.
fn wildcard_match(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard_match(&p[1..], s) || (!s.is_empty() && wildcard_match(p, &s[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard_match(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => wildcard_match(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match(b"*.conf", b"REQUEST-901.conf"));
        assert!(!wildcard_match(b"*.conf", b"x.conf.example"));
        assert!(wildcard_match(b"a?c", b"abc"));
    }

    #[test]
    fn directives_and_errors_carry_lines() {
        let text = "SecRuleEngine DetectionOnly\nSecDebugLog /x\nSecRule ARGS \"@rx x\" \"id:1,deny\"\nSecMarker END\n";
        let cfg = parse_str(text, Path::new("/tmp/t.conf")).unwrap();
        assert_eq!(cfg.directives.len(), 3);
        assert_eq!(cfg.warnings.len(), 1);
        assert!(cfg.warnings[0].starts_with("/tmp/t.conf:2:"));
        let e = parse_str("\n\nSecBogus x\n", Path::new("/tmp/t.conf")).unwrap_err();
        assert_eq!(e.to_string(), "/tmp/t.conf:3: unknown directive SecBogus");
    }

    /// The parser must never panic, whatever the text (a cheap stand-in for the fuzz target).
    #[test]
    fn random_text_never_panics() {
        let pieces: &[&str] = &[
            "SecRule ",
            "SecAction ",
            "SecMarker ",
            "SecRuleUpdateTargetById ",
            "SecRuleRemoveById ",
            "ARGS",
            "|",
            "!",
            "&",
            ":",
            "/",
            "'",
            "\"",
            "\\",
            "\n",
            " ",
            "@rx ",
            "id:1,",
            "t:none,",
            "msg:'",
            "setvar:tx.a=+1",
            "ctl:ruleRemoveById=1-2",
            "chain",
            "é",
            "\u{0}",
            "%{tx.a}",
            "-",
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..(x % 24) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                text.push_str(pieces[(x % pieces.len() as u64) as usize]);
            }
            let _ = parse_str(&text, Path::new("/nonexistent/fuzz.conf"));
            let _ = ast::parse_vars(&text);
            let _ = ast::parse_actions(&text);
            let _ = ast::parse_operator(&text);
        }
    }

    #[test]
    fn id_ranges() {
        assert_eq!(parse_id_range("1-999999"), Ok((1, 999999)));
        assert_eq!(parse_id_range("42"), Ok((42, 42)));
        assert!(parse_id_range("x").is_err());
    }
}
