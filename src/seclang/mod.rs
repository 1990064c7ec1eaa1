//! SecLang text → AST with file:line diagnostics. Knows nothing of Hyperscan. (Being written: issue #3.)
