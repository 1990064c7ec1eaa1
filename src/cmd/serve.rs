//! `spoa-waf serve`: run the agent. (Being written: issue #2.)

use std::path::PathBuf;

/// Arguments of `spoa-waf serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:12345")]
    pub listen: String,
    /// SecLang configuration to load.
    #[arg(long)]
    pub rules: PathBuf,
}

/// Runs the agent until SIGTERM/SIGINT.
pub fn run(_args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    Err("serve is not implemented yet".into())
}
