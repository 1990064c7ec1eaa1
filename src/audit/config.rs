//! The audit log's configuration as the `SecAuditLog*` directives set it (libmodsecurity3 3.0.9
//! semantics and defaults), and the per-transaction overrides `ctl:auditEngine` /
//! `ctl:auditLogParts` apply. Pure values: no I/O (the writer opens files, `cmd` reports).

use std::path::PathBuf;

/// `SecAuditEngine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditEngine {
    /// No audit log.
    #[default]
    Off,
    /// Every transaction.
    On,
    /// Transactions with a message that audits, or a relevant status.
    RelevantOnly,
}

impl AuditEngine {
    /// `On|Off|RelevantOnly`, case-insensitive.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "on" => Some(AuditEngine::On),
            "off" => Some(AuditEngine::Off),
            "relevantonly" => Some(AuditEngine::RelevantOnly),
            _ => None,
        }
    }
}

/// A set of audit-log parts, one bit per letter `A`–`Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts(u32);

impl Default for Parts {
    /// libmodsecurity3's default, `ABCFHZ`.
    fn default() -> Self {
        Parts::parse("ABCFHZ").unwrap_or(Parts(0))
    }
}

impl Parts {
    /// The parts named by `s` (letters A–Z).
    pub fn parse(s: &str) -> Option<Self> {
        let mut bits = 0u32;
        for c in s.trim().bytes() {
            let c = c.to_ascii_uppercase();
            if !c.is_ascii_uppercase() {
                return None;
            }
            bits |= 1 << (c - b'A');
        }
        Some(Parts(bits))
    }

    /// `ctl:auditLogParts=`: `+XY` adds, `-XY` removes, anything else replaces.
    pub fn modified(self, spec: &str) -> Option<Self> {
        let spec = spec.trim();
        if let Some(add) = spec.strip_prefix('+') {
            Some(Parts(self.0 | Parts::parse(add)?.0))
        } else if let Some(del) = spec.strip_prefix('-') {
            Some(Parts(self.0 & !Parts::parse(del)?.0))
        } else {
            Parts::parse(spec)
        }
    }

    /// Whether part `letter` (upper case) is in the set.
    pub fn has(self, letter: u8) -> bool {
        letter.is_ascii_uppercase() && self.0 & (1 << (letter - b'A')) != 0
    }
}

/// `SecAuditLogType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogType {
    /// One file (`SecAuditLog`), records appended.
    #[default]
    Serial,
    /// One file per transaction under `SecAuditLogStorageDir`.
    Concurrent,
}

/// `SecAuditLogFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The multipart text format (`--BOUNDARY-A--` …); libmodsecurity3's default.
    #[default]
    Native,
    /// One JSON object per line.
    Json,
}

/// What the directives configured. `*_at` keep the `file:line` of the directive that named a
/// path, so start-up errors point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// `SecAuditEngine`.
    pub engine: AuditEngine,
    /// Where `SecAuditEngine` was set.
    pub engine_at: Option<String>,
    /// `SecAuditLogRelevantStatus` as written.
    pub relevant_status: Option<String>,
    /// Status codes 0–999 the relevant-status regex matches (decided once, at load).
    pub relevant_codes: Vec<bool>,
    /// `SecAuditLogParts`.
    pub parts: Parts,
    /// `SecAuditLogType`.
    pub log_type: LogType,
    /// `SecAuditLog`.
    pub path: Option<PathBuf>,
    /// Where `SecAuditLog` was set.
    pub path_at: Option<String>,
    /// `SecAuditLogStorageDir`.
    pub storage_dir: Option<PathBuf>,
    /// Where `SecAuditLogStorageDir` was set.
    pub storage_dir_at: Option<String>,
    /// `SecAuditLogFormat`.
    pub format: Format,
    /// `SecAuditLogFileMode` (octal; libmodsecurity3's default 0600).
    pub file_mode: u32,
    /// `SecAuditLogDirMode` (octal; default 0700 here: libmodsecurity3's 0766 has no search bit
    /// for group and others, which makes its group/other read bits useless anyway).
    pub dir_mode: u32,
    /// Whether some rule has `ctl:auditEngine=` (the log may be on for some transactions even
    /// when `SecAuditEngine Off`).
    pub ctl_engine: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            engine: AuditEngine::Off,
            engine_at: None,
            relevant_status: None,
            relevant_codes: Vec::new(),
            parts: Parts::default(),
            log_type: LogType::Serial,
            path: None,
            path_at: None,
            storage_dir: None,
            storage_dir_at: None,
            format: Format::Native,
            file_mode: 0o600,
            dir_mode: 0o700,
            ctl_engine: false,
        }
    }
}

impl AuditConfig {
    /// Whether any transaction can be audited (the engine collects messages only then):
    /// `SecAuditEngine` is not Off, or a rule's `ctl:auditEngine` may turn it on and there is
    /// somewhere to write (CRS carries such a `ctl` without any audit log configured; like
    /// libmodsecurity3 the agent then writes nothing).
    pub fn possible(&self) -> bool {
        let target = match self.log_type {
            LogType::Serial => self.path.is_some(),
            LogType::Concurrent => self.storage_dir.is_some(),
        };
        self.engine != AuditEngine::Off || (self.ctl_engine && target)
    }

    /// Whether `status` matches `SecAuditLogRelevantStatus` (never without one).
    pub fn relevant_status(&self, status: u16) -> bool {
        self.relevant_codes
            .get(usize::from(status))
            .copied()
            .unwrap_or(false)
    }

    /// Applies one `SecAuditLog*` directive; `at` is its `file:line`.
    pub fn apply(&mut self, name: &str, args: &[String], at: String) -> Result<(), String> {
        let a = args.first().map(String::as_str).unwrap_or("").trim();
        let mode = |v: &str| {
            u32::from_str_radix(v.trim_start_matches("0o"), 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| format!("{name} expects an octal mode such as 0600, got {v:?}"))
        };
        match name {
            "SecAuditEngine" => {
                self.engine = AuditEngine::parse(a).ok_or_else(|| {
                    format!("SecAuditEngine expects On|Off|RelevantOnly, got {a:?}")
                })?;
                self.engine_at = Some(at);
            }
            "SecAuditLogRelevantStatus" => {
                let re = pcre2::bytes::Regex::new(a)
                    .map_err(|e| format!("SecAuditLogRelevantStatus {a:?}: {e}"))?;
                // A status is three digits: decide every code once instead of per request.
                self.relevant_codes = (0..1000u16)
                    .map(|c| re.is_match(c.to_string().as_bytes()).unwrap_or(false))
                    .collect();
                self.relevant_status = Some(a.to_string());
            }
            "SecAuditLogParts" => {
                self.parts = Parts::parse(a)
                    .ok_or_else(|| format!("SecAuditLogParts expects letters A-Z, got {a:?}"))?;
            }
            "SecAuditLogType" => {
                self.log_type = match a.to_ascii_lowercase().as_str() {
                    "serial" => LogType::Serial,
                    "concurrent" | "parallel" => LogType::Concurrent,
                    _ => {
                        return Err(format!(
                            "SecAuditLogType expects Serial|Concurrent, got {a:?}"
                        ))
                    }
                }
            }
            "SecAuditLog" => {
                if a.starts_with('|') {
                    return Err("SecAuditLog: piped audit logs are not supported".into());
                }
                self.path = Some(PathBuf::from(a));
                self.path_at = Some(at);
            }
            "SecAuditLogStorageDir" => {
                self.storage_dir = Some(PathBuf::from(a));
                self.storage_dir_at = Some(at);
            }
            "SecAuditLogFormat" => {
                self.format = match a.to_ascii_lowercase().as_str() {
                    "json" => Format::Json,
                    "native" => Format::Native,
                    _ => return Err(format!("SecAuditLogFormat expects JSON|Native, got {a:?}")),
                }
            }
            "SecAuditLogFileMode" => self.file_mode = mode(a)?,
            "SecAuditLogDirMode" => self.dir_mode = mode(a)?,
            _ => return Err(format!("{name} is not an audit-log directive")),
        }
        Ok(())
    }
}

/// The directives [`AuditConfig::apply`] understands (the parser's list of them).
pub use crate::seclang::AUDIT_DIRECTIVES as DIRECTIVES;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_parse_and_ctl_modify() {
        let p = Parts::parse("ABCFHZ").unwrap();
        assert!(p.has(b'A') && p.has(b'H') && !p.has(b'E'));
        let q = p.modified("+E").unwrap().modified("-B").unwrap();
        assert!(q.has(b'E') && !q.has(b'B'));
        assert_eq!(p.modified("AZ"), Parts::parse("ZA"));
        assert!(Parts::parse("A1").is_none());
    }

    #[test]
    fn a_ctl_alone_audits_only_with_a_target() {
        let mut c = AuditConfig {
            ctl_engine: true,
            ..AuditConfig::default()
        };
        assert!(!c.possible());
        c.path = Some("/var/log/modsec_audit.log".into());
        assert!(c.possible());
    }

    #[test]
    fn relevant_status_is_decided_per_code() {
        let mut c = AuditConfig::default();
        assert!(!c.relevant_status(500));
        c.apply(
            "SecAuditLogRelevantStatus",
            &["^(?:5|4(?!04))".into()],
            "x:1".into(),
        )
        .unwrap();
        assert!(c.relevant_status(500) && c.relevant_status(403));
        assert!(!c.relevant_status(404) && !c.relevant_status(200));
        assert!(c
            .apply("SecAuditLogFileMode", &["0640".into()], "x:2".into())
            .is_ok());
        assert_eq!(c.file_mode, 0o640);
        assert!(c
            .apply("SecAuditEngine", &["maybe".into()], "x:3".into())
            .is_err());
    }
}
