//! Pure operator primitives (`@pm` phrases, `@within`, `@validate*`, `@ipMatch`, libinjection).
//! (Being written: issue #3.)
