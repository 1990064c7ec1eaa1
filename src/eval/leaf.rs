//! The leaf modules the evaluator uses, re-exported under one name so `compile` and `eval`
//! name them in one place: transformations, operator primitives, body processors, matcher.

pub use crate::{body, matcher, ops, transform};
