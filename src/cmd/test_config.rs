//! `spoa-waf test-config`: parse and compile a configuration, report errors, exit non-zero on any.

use std::path::PathBuf;

use crate::engine::Engine;

/// Arguments of `spoa-waf test-config`.
#[derive(Debug, clap::Args)]
pub struct TestConfigArgs {
    /// SecLang configuration to load.
    #[arg(long)]
    pub rules: PathBuf,
}

/// Loads and compiles the configuration; `Err` describes the first error (with file:line).
pub fn run(args: TestConfigArgs) -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::from_file(&args.rules)?;
    for w in engine.warnings() {
        eprintln!("spoa-waf: warning: {w}");
    }
    let rs = engine.rules();
    let starters = rs.rules.iter().filter(|r| !r.is_link).count();
    eprintln!(
        "{}: configuration OK ({starters} rules, {} chain links)",
        args.rules.display(),
        rs.rules.len() - starters
    );
    Ok(())
}
