//! `spoa-waf check`: evaluate a request corpus offline. (Being written: issue #3.)

use std::path::PathBuf;

/// Arguments of `spoa-waf check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// SecLang configuration to load.
    #[arg(long)]
    pub rules: PathBuf,
    /// Corpus file (JSON lines).
    #[arg(long)]
    pub input: PathBuf,
}

/// Evaluates the corpus and prints one result line per request.
pub fn run(_args: CheckArgs) -> Result<(), Box<dyn std::error::Error>> {
    Err("check is not implemented yet".into())
}
