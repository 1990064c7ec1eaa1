//! Subcommand entry points of the `spoa-waf` binary; each module owns its clap `Args`.

pub mod check;
pub mod serve;
pub mod test_config;
