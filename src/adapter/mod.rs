//! Maps SPOP messages (`check-request`, `coraza-req`, `coraza-res`) to [`crate::inspect`]
//! requests and verdicts back to SET-VAR actions. (Being written: issue #2.)
