//! The `spoa-waf` binary: a thin dispatcher to [`spoa_waf::cmd`].

use clap::{Parser, Subcommand};
use spoa_waf::cmd;

// mimalloc: per-thread free lists suit thread-per-core shards, and it returns memory to the OS
// more eagerly than glibc's malloc under long-running churn.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A ModSecurity/CRS web application firewall agent for HAProxy (SPOP).
#[derive(Debug, Parser)]
#[command(name = "spoa-waf", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the SPOP agent.
    Serve(Box<cmd::serve::ServeArgs>),
    /// Evaluate a request corpus offline and print one JSON result per request.
    Check(cmd::check::CheckArgs),
    /// Parse and compile a configuration; exit non-zero on any error.
    TestConfig(cmd::test_config::TestConfigArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(a) => cmd::serve::run(*a),
        Command::Check(a) => cmd::check::run(a),
        Command::TestConfig(a) => cmd::test_config::run(a),
    };
    if let Err(e) = result {
        eprintln!("spoa-waf: {e}");
        std::process::exit(1);
    }
}
