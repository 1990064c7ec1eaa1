//! The agent's configuration file and its applications.
//!
//! Owns reading coraza-spoa v0.7's YAML unchanged ([`FileConfig`]: `bind`, `log_level`,
//! `log_file`, `log_format`, `default_application`, `applications`), the spoa-waf keys that
//! make every `serve` flag settable there, the resolution of the embedded-CRS names coraza-spoa
//! configs use (`@coraza.conf-recommended`, `@crs-setup.conf.example`, `@owasp_crs/…`, see
//! [`resolve`]) to a CRS 4 directory, and building the application registry
//! ([`apps::Applications`]). Directive errors point into the YAML file (file:line).
//!
//! Refuses: sockets, shards and signals (the server's and the reload module's), and evaluating
//! anything (the engine's).

pub mod apps;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::seclang;

/// Where `@owasp_crs/` and `@crs-setup.conf.example` point when nothing says otherwise: the
/// CRS 4 Debian's `modsecurity-crs` package installs.
pub const DEFAULT_CRS_DIR: &str = "/usr/share/modsecurity-crs";

/// coraza-spoa's default transaction TTL.
pub const DEFAULT_TTL_MS: u64 = 60_000;

/// The settings `@coraza.conf-recommended` stands for: ModSecurity's recommended base
/// (`rules/modsecurity-base.conf`), and, as coraza's recommended file has it, detection only
/// until the application's directives say `SecRuleEngine On`.
const RECOMMENDED: &str = concat!(
    include_str!("../../rules/modsecurity-base.conf"),
    "\nSecRuleEngine DetectionOnly\n"
);

/// One application of the YAML file.
#[derive(Debug, Clone, Deserialize)]
pub struct AppConfig {
    /// What HAProxy sends as `app`.
    pub name: String,
    /// SecLang text.
    #[serde(default)]
    pub directives: String,
    /// Keep the request's transaction for `coraza-res`.
    #[serde(default)]
    pub response_check: bool,
    /// How long a transaction waits for its response.
    #[serde(default = "default_ttl")]
    pub transaction_ttl_ms: u64,
    /// Accepted for compatibility (see [`FileConfig::unsupported`]).
    #[serde(default)]
    pub log_level: Option<String>,
    /// Accepted for compatibility.
    #[serde(default)]
    pub log_file: Option<String>,
    /// Accepted for compatibility.
    #[serde(default)]
    pub log_format: Option<String>,
}

fn default_ttl() -> u64 {
    DEFAULT_TTL_MS
}

/// The YAML file: coraza-spoa v0.7's keys, then spoa-waf's (each a `serve` flag).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FileConfig {
    /// `host:port`, `unix:///path` (coraza-spoa) or `unix:/path`.
    pub bind: Option<String>,
    /// coraza-spoa's global log settings.
    pub log_level: Option<String>,
    /// Accepted; spoa-waf logs to stderr.
    pub log_file: Option<String>,
    /// Accepted; spoa-waf logs text lines.
    pub log_format: Option<String>,
    /// Used for `check-request`, and for `app` names no application has.
    pub default_application: Option<String>,
    /// The applications.
    #[serde(default)]
    pub applications: Vec<AppConfig>,
    // --- spoa-waf (the `serve` flags of the same names) ---
    /// `--shards`.
    pub shards: Option<usize>,
    /// `--cpus`, e.g. `0-3,6`.
    pub cpus: Option<String>,
    /// `--max-frame-size`.
    pub max_frame_size: Option<u32>,
    /// `--max-connections`.
    pub max_connections: Option<usize>,
    /// `--stats-interval` (seconds).
    pub stats_interval: Option<u64>,
    /// `--hello-timeout-ms`.
    pub hello_timeout_ms: Option<u64>,
    /// `--idle-timeout-ms`.
    pub idle_timeout_ms: Option<u64>,
    /// `--watch`.
    pub watch: Option<bool>,
    /// `--watch-path`.
    #[serde(default)]
    pub watch_paths: Vec<PathBuf>,
    /// `--watch-interval-ms`.
    pub watch_interval_ms: Option<u64>,
    /// `--crs-dir`.
    pub crs_dir: Option<PathBuf>,
    /// `--socket-mode` (octal string, e.g. `"660"`).
    pub socket_mode: Option<String>,
    /// `--socket-owner` (`user[:group]`).
    pub socket_owner: Option<String>,
    /// `--max-transactions`.
    pub max_transactions: Option<usize>,
}

/// Why the configuration file could not be used.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl FileConfig {
    /// Reads and checks `path`.
    ///
    /// # Errors
    /// Unreadable file, YAML errors (with line and column), no applications, a default that
    /// names none of them, duplicate names.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        Self::parse(&text, path)
    }

    /// Parses YAML text read from `path`.
    ///
    /// # Errors
    /// As [`FileConfig::load`].
    pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        let cfg: FileConfig = serde_yaml::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            ConfigError(format!("{}{at}: {e}", path.display()))
        })?;
        if cfg.applications.is_empty() {
            return Err(ConfigError(format!(
                "{}: no applications (`applications: [{{name, directives}}]`)",
                path.display()
            )));
        }
        for (i, a) in cfg.applications.iter().enumerate() {
            if cfg.applications[..i].iter().any(|b| b.name == a.name) {
                return Err(ConfigError(format!(
                    "{}: application {:?} is defined twice",
                    path.display(),
                    a.name
                )));
            }
        }
        if let Some(d) = &cfg.default_application {
            if !cfg.applications.iter().any(|a| &a.name == d) {
                return Err(ConfigError(format!(
                    "{}: default_application {d:?} is not one of the applications",
                    path.display()
                )));
            }
        }
        Ok(cfg)
    }

    /// The keys read but not applied, one operator-facing line each (logged at start-up).
    pub fn unsupported(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut note = |what: String| out.push(what);
        if self.log_file.is_some() || self.log_format.is_some() {
            note("log_file/log_format: spoa-waf writes text lines to stderr (journald, kubectl logs); the settings are ignored".into());
        }
        for a in &self.applications {
            if a.log_file.is_some() || a.log_format.is_some() || a.log_level.is_some() {
                note(format!(
                    "application {:?}: per-application log settings are ignored; its lines go to the agent log",
                    a.name
                ));
            }
        }
        out
    }
}

/// Where the YAML file's directives of `app` start (1-based line of their first non-empty
/// line), so parse errors name the YAML file's own line. 0 when not found.
fn directives_line(yaml: &str, app: &AppConfig) -> usize {
    let Some(first) = app
        .directives
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
    else {
        return 0;
    };
    let lines: Vec<&str> = yaml.lines().collect();
    let named = lines
        .iter()
        .position(|l| {
            let l = l.trim_start().trim_start_matches("- ").trim();
            l.strip_prefix("name:")
                .is_some_and(|n| n.trim().trim_matches(['"', '\'']) == app.name)
        })
        .unwrap_or(0);
    lines[named..]
        .iter()
        .position(|l| l.trim() == first)
        .map_or(0, |i| named + i + 1)
}

/// Rewrites coraza-spoa's embedded-CRS names in one `Include` line to files of `crs_dir`;
/// `None` when the line is not such an `Include`. `@coraza.conf-recommended` is handled by
/// [`parse_directives`] (it has no file).
fn rewrite_include(line: &str, crs_dir: &Path) -> Option<String> {
    let t = line.trim();
    let (kw, arg) = t.split_once(char::is_whitespace)?;
    if !kw.eq_ignore_ascii_case("include") && !kw.eq_ignore_ascii_case("includeoptional") {
        return None;
    }
    let arg = arg.trim().trim_matches('"');
    let path = if let Some(rest) = arg.strip_prefix("@owasp_crs/") {
        crs_dir.join("rules").join(rest)
    } else if arg == "@crs-setup.conf.example" {
        crs_dir.join("crs-setup.conf.example")
    } else {
        return None;
    };
    Some(format!("{kw} \"{}\"", path.display()))
}

fn is_recommended(line: &str) -> bool {
    let t = line.trim();
    t.split_once(char::is_whitespace).is_some_and(|(kw, arg)| {
        kw.eq_ignore_ascii_case("include")
            && arg.trim().trim_matches('"') == "@coraza.conf-recommended"
    })
}

/// The directives of one application with the embedded-CRS names resolved: what the compile
/// cache keys on (equal text, one compilation).
pub fn resolve(directives: &str, crs_dir: &Path) -> String {
    let mut out = String::with_capacity(directives.len());
    for line in directives.lines() {
        match rewrite_include(line, crs_dir) {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Parses resolved directives as lines of `file` starting at `first_line`, with each
/// `Include @coraza.conf-recommended` replaced by the embedded recommended settings.
///
/// # Errors
/// The parser's error, with file:line.
pub fn parse_directives(
    resolved: &str,
    file: &Path,
    first_line: usize,
) -> Result<seclang::Config, seclang::ParseError> {
    let mut cfg = seclang::Config::default();
    // Blank lines keep the parser's line numbers equal to the file's.
    let mut segment = "\n".repeat(first_line.saturating_sub(1));
    let flush = |segment: &mut String, next_line: usize, cfg: &mut seclang::Config| {
        let part = seclang::parse_str(segment, file)?;
        cfg.directives.extend(part.directives);
        cfg.warnings.extend(part.warnings);
        *segment = "\n".repeat(next_line.saturating_sub(1));
        Ok::<(), seclang::ParseError>(())
    };
    for (line_no, line) in (first_line.max(1)..).zip(resolved.lines()) {
        if is_recommended(line) {
            flush(&mut segment, line_no + 1, &mut cfg)?;
            let part = seclang::parse_str(RECOMMENDED, Path::new("@coraza.conf-recommended"))?;
            cfg.directives.extend(part.directives);
            cfg.warnings.extend(part.warnings);
        } else {
            segment.push_str(line);
            segment.push('\n');
        }
    }
    flush(&mut segment, 0, &mut cfg)?;
    Ok(cfg)
}

/// Where an application's directives start in the YAML text at `yaml_path` (see
/// [`parse_directives`]); re-reads the file, 0 when it cannot.
pub fn app_first_line(yaml_path: &Path, app: &AppConfig) -> usize {
    std::fs::read_to_string(yaml_path)
        .map(|t| directives_line(&t, app))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"# coraza-spoa v0.7 example layout
bind: 0.0.0.0:9000
log_level: info
log_file: /dev/stdout
log_format: json
default_application: sample_app
applications:
  - name: sample_app
    directives: |
      Include @coraza.conf-recommended
      Include @crs-setup.conf.example
      Include @owasp_crs/*.conf
      SecRuleEngine On
    response_check: true
    transaction_ttl_ms: 60000
    log_level: info
    log_file: /dev/stdout
    log_format: json
  - name: other
    directives: |
      SecRuleEngine On
      SecRule ARGS "@rx x" "id:1,phase:2,deny,bogus"
"#;

    #[test]
    fn reads_coraza_spoa_yaml_unchanged() {
        let c = FileConfig::parse(YAML, Path::new("/etc/x.yaml")).unwrap();
        assert_eq!(c.bind.as_deref(), Some("0.0.0.0:9000"));
        assert_eq!(c.default_application.as_deref(), Some("sample_app"));
        assert_eq!(c.applications.len(), 2);
        let a = &c.applications[0];
        assert!(a.response_check);
        assert_eq!(a.transaction_ttl_ms, 60000);
        assert_eq!(c.applications[1].transaction_ttl_ms, DEFAULT_TTL_MS);
        assert!(!c.applications[1].response_check);
        assert_eq!(c.unsupported().len(), 2);
    }

    #[test]
    fn refuses_a_default_that_is_no_application() {
        let y = YAML.replace(
            "default_application: sample_app",
            "default_application: nope",
        );
        let e = FileConfig::parse(&y, Path::new("c.yaml")).unwrap_err();
        assert!(e.0.contains("nope"), "{e}");
        let e = FileConfig::parse("bind: [", Path::new("c.yaml")).unwrap_err();
        assert!(e.0.starts_with("c.yaml:"), "{e}");
    }

    #[test]
    fn embedded_crs_names_resolve_to_the_crs_dir() {
        let r = resolve(
            "Include @owasp_crs/*.conf\n include \"@crs-setup.conf.example\"\nInclude local.conf\n",
            Path::new("/crs"),
        );
        assert_eq!(
            r,
            "Include \"/crs/rules/*.conf\"\ninclude \"/crs/crs-setup.conf.example\"\nInclude local.conf\n"
        );
    }

    #[test]
    fn directive_errors_name_the_yaml_line() {
        let c = FileConfig::parse(YAML, Path::new("x.yaml")).unwrap();
        let app = &c.applications[1];
        let first = directives_line(YAML, app);
        assert_eq!(first, 21);
        let text = resolve(&app.directives, Path::new("/crs"));
        let cfg = parse_directives(&text, Path::new("x.yaml"), first).unwrap();
        let err = crate::compile::compile(cfg).unwrap_err().to_string();
        assert!(err.contains("x.yaml:22"), "{err}");
    }

    #[test]
    fn the_recommended_settings_come_in_place() {
        let text = "SecRuleEngine On\nInclude @coraza.conf-recommended\nSecRule ARGS \"@rx y\" \"id:9,phase:2,pass,bogus\"\n";
        let cfg = parse_directives(text, Path::new("y.yaml"), 10).unwrap();
        // The recommended file's settings arrive between the two lines of the YAML.
        let first = cfg.directives.first().unwrap();
        assert!(
            matches!(first, seclang::Directive::Setting(n, a, _) if n == "SecRuleEngine" && a[0] == "On")
        );
        let err = crate::compile::compile(cfg).unwrap_err().to_string();
        assert!(err.contains("y.yaml:12"), "{err}");
    }
}
