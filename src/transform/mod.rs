//! SecLang transformations (`t:`) as pure byte functions. (Being written: issue #3.)
