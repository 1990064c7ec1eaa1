//! Lowers the SecLang AST into an immutable, shareable `RuleSet`. (Being written: issue #3.)
