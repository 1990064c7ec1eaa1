//! Evaluates a compiled `RuleSet` against one transaction. (Being written: issue #3.)
