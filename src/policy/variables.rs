//! IAM policy variables (`${aws:username}`) in resource patterns.
//!
//! A variable is replaced by AWS, at request time, with a value a2i-fix does
//! not know (the caller's user name, a tag, ...). So a pattern holding one
//! names an unknown set of resources: [`ResourcePattern`] reads it with each
//! variable as `*` (everything it could become) and remembers that it had one.
//! [`super::scope`] then judges such a pattern as *unsure*: a `Deny` with it
//! may apply, an `Allow` with it grants nothing certain.
//!
//! `${*}`, `${?}` and `${$}` are not variables but the characters `*`, `?` and
//! `$` meant literally (a literal `*` matches only a `*`).
//!
//! # Decisions
//!
//! - **`Version` is not looked at.** Under `2008-10-17` (or no `Version`)
//!   `${...}` is literal text; reading it as a variable there can only turn a
//!   certain verdict into an unsure one (a Deny that "may apply", an Allow that
//!   "might grant"), never claim a grant that is not there.
//! - A variable with a default value (`${aws:username, 'anon'}`) is a variable
//!   like any other. A `${` with no closing `}` is literal text.

use super::wildcard::{Tok, token, tokens};

/// A resource pattern of a policy, read with its policy variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourcePattern {
    /// The pattern, each variable read as `*` and each escape as its character.
    pub tokens: Vec<Tok>,
    /// Whether it holds at least one variable.
    pub has_variable: bool,
}

impl ResourcePattern {
    pub(crate) fn read(pattern: &str) -> Self {
        if !pattern.contains("${") {
            return ResourcePattern {
                tokens: tokens(pattern),
                has_variable: false,
            };
        }
        let chars: Vec<char> = pattern.chars().collect();
        let mut out = Vec::with_capacity(chars.len());
        let mut has_variable = false;
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '$'
                && chars.get(i + 1) == Some(&'{')
                && let Some(len) = chars[i + 2..].iter().position(|&c| c == '}')
            {
                let inner: String = chars[i + 2..i + 2 + len].iter().collect();
                match inner.as_str() {
                    "*" => out.push(Tok::Lit('*')),
                    "?" => out.push(Tok::Lit('?')),
                    "$" => out.push(Tok::Lit('$')),
                    _ => {
                        has_variable = true;
                        if out.last() != Some(&Tok::Star) {
                            out.push(Tok::Star);
                        }
                    }
                }
                i += len + 3;
                continue;
            }
            out.push(token(chars[i]));
            i += 1;
        }
        ResourcePattern {
            tokens: out,
            has_variable,
        }
    }
}

/// Whether a string holds a policy variable (not just an escape).
pub(crate) fn has_variable(pattern: &str) -> bool {
    pattern.contains("${") && ResourcePattern::read(pattern).has_variable
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::wildcard::{covers_tokens, overlaps_tokens};

    #[test]
    fn variables_read_as_stars_and_escapes_as_characters() {
        let cases: &[(&str, &str, bool)] = &[
            ("arn:aws:s3:::b/*", "arn:aws:s3:::b/*", false),
            (
                "arn:aws:s3:::b/${aws:username}/*",
                "arn:aws:s3:::b/*/*",
                true,
            ),
            ("${aws:username}${aws:userid}", "*", true),
            ("a${aws:PrincipalTag/team, 'x'}b", "a*b", true),
            ("b/${*}", "b/\u{0}*", false),
            ("b/${?}", "b/\u{0}?", false),
            ("b/${$}{x}", "b/${x}", false),
            ("b/${unclosed", "b/${unclosed", false),
            ("b/$x{y}", "b/$x{y}", false),
        ];
        for (pattern, want, var) in cases {
            let read = ResourcePattern::read(pattern);
            // In `want`, a `\0` marks the next character as literal.
            let mut expected = Vec::new();
            let mut literal = false;
            for c in want.chars() {
                if c == '\u{0}' {
                    literal = true;
                    continue;
                }
                expected.push(if literal { Tok::Lit(c) } else { token(c) });
                literal = false;
            }
            assert_eq!(read.tokens, expected, "{pattern}");
            assert_eq!(read.has_variable, *var, "{pattern}");
            assert_eq!(has_variable(pattern), *var, "{pattern}");
        }
    }

    #[test]
    fn a_literal_star_is_only_a_star() {
        let star = ResourcePattern::read("b/${*}").tokens;
        assert!(!covers_tokens(&star, &tokens("b/*"), false));
        assert!(overlaps_tokens(&star, &tokens("b/*"), false));
        assert!(!overlaps_tokens(&star, &tokens("b/x"), false));
        assert!(covers_tokens(&tokens("b/*"), &star, false));
    }
}
