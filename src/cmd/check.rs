//! `spoa-waf check`: evaluate a request corpus offline (`shared/docs/corpus-format.md`).
//!
//! One JSON result line per request on stdout, in input order
//! (`{"name","status","ids","score"}`); a summary with the one-core request rate on stderr.
//! Uses exactly the engine `serve` uses ([`Engine`] through [`Inspector`]), so the two agree;
//! `--engine reference` swaps in the literal evaluator ([`Evaluator::Reference`]).

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use crate::corpus::CorpusRequest;
use crate::engine::{Engine, Evaluator};
use crate::inspect::Inspector;

/// Arguments of `spoa-waf check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// SecLang configuration to load.
    #[arg(long)]
    pub rules: PathBuf,
    /// Corpus file (JSON lines).
    #[arg(long)]
    pub input: PathBuf,
    /// Also write every ModSecurity-style log line to stderr.
    #[arg(long)]
    pub log: bool,
    /// Which evaluator decides the rules: `fast` (the compiled plan `serve` uses) or
    /// `reference` (each rule applied literally; slow, for checking the fast one).
    #[arg(long, value_enum, default_value_t = EngineKind::Fast)]
    pub engine: EngineKind,
}

/// `--engine` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// The compiled plan (what `serve` runs).
    Fast,
    /// Every rule applied literally: transformations, then PCRE2 or the plain operator.
    Reference,
}

/// Evaluates the corpus and prints one result line per request.
pub fn run(args: CheckArgs) -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::from_file(&args.rules)?.with_evaluator(match args.engine {
        EngineKind::Fast => Evaluator::Planned,
        EngineKind::Reference => Evaluator::Reference,
    });
    for w in engine.warnings() {
        eprintln!("spoa-waf: warning: {w}");
    }
    let text = std::fs::read_to_string(&args.input)
        .map_err(|e| format!("{}: {e}", args.input.display()))?;
    let corpus = CorpusRequest::parse_all(&text)?;
    let mut scratch = engine.new_scratch();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut blocked = 0usize;
    let start = Instant::now();
    for r in &corpus {
        let v = engine.inspect_request(&mut scratch, &r.as_request());
        if args.log {
            for l in &v.log_lines {
                eprintln!("{l}");
            }
        }
        let status = v.disruption.as_ref().map_or(200, |d| d.status);
        if status != 200 {
            blocked += 1;
        }
        // Keys in the documented order (serde_json's map would sort them).
        let ids: Vec<String> = v.logged_rule_ids.iter().map(u32::to_string).collect();
        writeln!(
            out,
            "{{\"name\":{},\"status\":{status},\"ids\":[{}],\"score\":{}}}",
            serde_json::Value::String(r.name.clone()),
            ids.join(","),
            v.anomaly_score
        )?;
    }
    out.flush()?;
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "spoa-waf check: {} requests, {blocked} blocked, {:.0} requests/s on one core",
        corpus.len(),
        corpus.len() as f64 / secs.max(1e-9)
    );
    Ok(())
}
