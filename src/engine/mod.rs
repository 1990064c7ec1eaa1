//! The rule engine facade: loads a SecLang configuration and implements
//! [`crate::inspect::Inspector`]. (Being written: issue #3; until then it passes everything.)

use std::path::Path;

use crate::inspect::{HttpRequest, HttpResponse, Inspector, Verdict};

/// A loaded, compiled rule set. Immutable; shared by every shard.
#[derive(Debug)]
pub struct Engine {
    _private: (),
}

/// Why a configuration could not be loaded.
#[derive(Debug)]
pub struct LoadError {
    /// Human-readable description, with file:line where known.
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}

impl Engine {
    /// Loads and compiles the configuration at `path` (with its `Include`s).
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        if !path.exists() {
            return Err(LoadError {
                message: format!("{}: no such file", path.display()),
            });
        }
        Ok(Engine { _private: () })
    }
}

/// Per-shard engine state.
#[derive(Debug, Default)]
pub struct EngineScratch {}

impl Inspector for Engine {
    type Scratch = EngineScratch;

    fn new_scratch(&self) -> EngineScratch {
        EngineScratch::default()
    }

    fn inspect_request(&self, _scratch: &mut EngineScratch, _req: &HttpRequest<'_>) -> Verdict {
        Verdict::pass()
    }

    fn inspect_response(&self, _scratch: &mut EngineScratch, _res: &HttpResponse<'_>) -> Verdict {
        Verdict::pass()
    }
}
