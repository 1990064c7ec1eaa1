//! `spoa-waf test-config`: parse and compile a configuration (a SecLang file, or a coraza-spoa
//! YAML file with its applications), report errors, exit non-zero on any.

use std::path::PathBuf;

use crate::config::apps::Applications;
use crate::config::FileConfig;
use crate::engine::Engine;

/// Arguments of `spoa-waf test-config`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["rules", "config"])))]
pub struct TestConfigArgs {
    /// SecLang configuration to load.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// coraza-spoa v0.7 YAML configuration (what `serve --config` reads).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The CRS 4 directory `@owasp_crs/` resolves to (default: the file's `crs_dir`, else
    /// /usr/share/modsecurity-crs).
    #[arg(long)]
    pub crs_dir: Option<PathBuf>,
}

/// Loads and compiles the configuration; `Err` describes the first error (with file:line).
pub fn run(args: TestConfigArgs) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(path) = &args.config {
        let cfg = FileConfig::load(path)?;
        let base = path.parent().map(PathBuf::from).unwrap_or_default();
        let crs = args
            .crs_dir
            .clone()
            .or(cfg.crs_dir.as_ref().map(|d| base.join(d)))
            .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_CRS_DIR));
        for note in cfg.unsupported() {
            eprintln!("spoa-waf: note: {note}");
        }
        let apps = Applications::build(&cfg, path, &crs)?;
        eprintln!(
            "{}: configuration OK ({} application(s), {} compilation(s))",
            path.display(),
            apps.apps().len(),
            apps.compilations()
        );
        return Ok(());
    }
    let rules = args
        .rules
        .as_ref()
        .expect("clap requires --rules or --config");
    let engine = Engine::from_file(rules)?;
    for w in engine.warnings() {
        eprintln!("spoa-waf: warning: {w}");
    }
    let rs = engine.rules();
    let starters = rs.rules.iter().filter(|r| !r.is_link).count();
    eprintln!(
        "{}: configuration OK ({starters} rules, {} chain links)",
        rules.display(),
        rs.rules.len() - starters
    );
    Ok(())
}
