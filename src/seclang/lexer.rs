//! Splits SecLang text into logical lines and argument tokens.
//!
//! Owns the Apache-config-like surface syntax ModSecurity reads: `\` at end of line continues
//! the directive, `#` starts a comment line, arguments are separated by blanks and may be
//! double-quoted (`\"` inside a quoted argument is a literal quote, other backslashes are kept
//! so regexes survive). Knows nothing of directive meanings.

/// One directive as written: its 1-based starting line and its tokens (quotes removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDirective {
    /// Line where the directive starts.
    pub line: u32,
    /// First token is the directive name.
    pub tokens: Vec<String>,
}

/// Why a logical line could not be tokenised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// Line where the broken directive starts.
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

/// Splits `text` into directives. Errors do not stop the scan: the broken line is skipped.
pub fn lex(text: &str) -> (Vec<RawDirective>, Vec<LexError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut logical = String::new();
    let mut start_line = 0u32;
    for (i, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if logical.is_empty() {
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            start_line = line_no;
        }
        // A trailing backslash (possibly followed by blanks) continues the directive.
        let trimmed_end = line.trim_end();
        if let Some(body) = trimmed_end.strip_suffix('\\') {
            logical.push_str(body);
            continue;
        }
        logical.push_str(line);
        match tokenize(&logical) {
            Ok(tokens) if !tokens.is_empty() => out.push(RawDirective {
                line: start_line,
                tokens,
            }),
            Ok(_) => {}
            Err(message) => errors.push(LexError {
                line: start_line,
                message,
            }),
        }
        logical.clear();
    }
    if !logical.is_empty() {
        match tokenize(&logical) {
            Ok(tokens) if !tokens.is_empty() => out.push(RawDirective {
                line: start_line,
                tokens,
            }),
            Ok(_) => {}
            Err(message) => errors.push(LexError {
                line: start_line,
                message,
            }),
        }
    }
    (out, errors)
}

/// Splits one logical line into arguments.
fn tokenize(s: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        let mut tok = String::new();
        if c == '"' {
            let quote = c;
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                if c == '\\' {
                    // As libmodsecurity3 reads it: only `\"` loses its backslash. (Apache's
                    // reader would also turn `\\` into `\`, which makes CRS's `[\\/]` miss
                    // `..\` traversals; libmodsecurity3 keeps both backslashes.)
                    match chars.peek() {
                        Some(&n) if n == quote => {
                            tok.push(n);
                            chars.next();
                        }
                        _ => tok.push('\\'),
                    }
                } else if c == quote {
                    closed = true;
                    break;
                } else {
                    tok.push(c);
                }
            }
            if !closed {
                return Err(format!("unterminated quoted argument: {quote}{tok}"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                tok.push(c);
            }
        }
        tokens.push(tok);
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_comments_and_quotes() {
        let text = "# comment\nSecRule ARGS \"@rx a\\\"b\\\\\\\\c\" \\\n    \"id:1,\\\n    msg:'x y'\"\n\n  SecRuleEngine On\n";
        let (d, e) = lex(text);
        assert!(e.is_empty());
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].line, 2);
        assert_eq!(
            d[0].tokens,
            vec!["SecRule", "ARGS", "@rx a\"b\\\\\\\\c", "id:1,    msg:'x y'"]
        );
        assert_eq!(d[1].line, 6);
        assert_eq!(d[1].tokens, vec!["SecRuleEngine", "On"]);
    }

    #[test]
    fn unterminated_quote_is_an_error_with_line() {
        let (d, e) = lex("SecRule ARGS \"@rx a\n");
        assert!(d.is_empty());
        assert_eq!(e[0].line, 1);
    }
}
