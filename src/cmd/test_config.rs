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

/// Loads and compiles the configuration; `Err` describes the first error.
pub fn run(args: TestConfigArgs) -> Result<(), Box<dyn std::error::Error>> {
    Engine::from_file(&args.rules)?;
    eprintln!("{}: configuration OK", args.rules.display());
    Ok(())
}
