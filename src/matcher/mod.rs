//! Pattern matching: the Hyperscan wrapper (the only `unsafe` in the crate) and the PCRE2
//! confirmer. (Being written: issue #3.)
