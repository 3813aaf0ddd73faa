//! IAM `*` / `?` wildcard matching.
//!
//! Three questions are asked of IAM patterns, and each has its own function:
//!
//! - [`matches()`]: does a pattern match one concrete value (`s3:Get*` matches
//!   `s3:GetObject`)?
//! - [`covers`]: does a pattern match *every* value another pattern can name?
//!   Requirements themselves contain wildcards (`arn:aws:s3:::bucket/*`,
//!   `kms:GenerateDataKey*`), so "an Allow grants it" means "the statement's
//!   pattern covers the requested pattern". The check is sound (it never says
//!   yes wrongly) but not complete: `kms:GenerateDataKey*` is not covered by a
//!   list of today's four `GenerateDataKey...` actions, because a future action
//!   with that prefix would not be. A false "no" only makes a2i-fix add a
//!   statement; a false "yes" would leave A2I broken.
//! - [`overlaps`]: can some value be named by both patterns? A Deny applies to
//!   a requirement when its pattern overlaps the requested one, even partly
//!   (a Deny on `bucket/secret/*` blocks part of `bucket/*`).
//!
//! All three run in `O(len(a) * len(b))` time and `O(len(b))` memory, with no
//! recursion, so hostile input cannot overflow the stack or blow up.

/// Match `value` against an IAM pattern with `*` and `?`.
pub fn matches(pattern: &str, value: &str, case_insensitive: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    // Classic greedy matching with one backtrack point: linear in practice,
    // O(n*m) worst case.
    let (mut pi, mut vi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || same_char(p[pi], v[vi], case_insensitive)) {
            pi += 1;
            vi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether every value named by the pattern `requested` is also named by
/// `pattern` (sound, see module docs).
pub fn covers(pattern: &str, requested: &str, case_insensitive: bool) -> bool {
    covers_tokens(&tokens(pattern), &tokens(requested), case_insensitive)
}

/// Whether some value is named by both patterns.
pub fn overlaps(a: &str, b: &str, case_insensitive: bool) -> bool {
    overlaps_tokens(&tokens(a), &tokens(b), case_insensitive)
}

/// One element of a pattern: `*`, `?`, or a character meant literally (a
/// pattern read through [`super::variables`] may hold a literal `*` or `?`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    Star,
    One,
    Lit(char),
}

/// A pattern as tokens: `*` and `?` are wildcards, every other character is
/// itself.
pub(crate) fn tokens(pattern: &str) -> Vec<Tok> {
    pattern.chars().map(token).collect()
}

/// One character of a pattern as a token.
pub(crate) fn token(c: char) -> Tok {
    match c {
        '*' => Tok::Star,
        '?' => Tok::One,
        c => Tok::Lit(c),
    }
}

/// [`covers`] on tokens.
pub(crate) fn covers_tokens(p: &[Tok], q: &[Tok], case_insensitive: bool) -> bool {
    let (np, nq) = (p.len(), q.len());
    // next[j] = p[i+1..] covers q[j..]; cur[j] = p[i..] covers q[j..].
    let mut next: Vec<bool> = (0..=nq).map(|j| j == nq).collect();
    let mut cur = vec![false; nq + 1];
    for i in (0..np).rev() {
        for j in (0..=nq).rev() {
            cur[j] = match p[i] {
                // The star matches nothing, or absorbs q[j] (whatever it is,
                // even a wildcard of the requested pattern) and stays.
                Tok::Star => next[j] || (j < nq && cur[j + 1]),
                Tok::One => j < nq && q[j] != Tok::Star && next[j + 1],
                Tok::Lit(c) => {
                    j < nq
                        && matches!(q[j], Tok::Lit(d) if same_char(c, d, case_insensitive))
                        && next[j + 1]
                }
            };
        }
        std::mem::swap(&mut cur, &mut next);
    }
    next[0]
}

/// [`overlaps`] on tokens.
pub(crate) fn overlaps_tokens(a: &[Tok], b: &[Tok], case_insensitive: bool) -> bool {
    let (na, nb) = (a.len(), b.len());
    // Reachability in the product of the two patterns' automata. Every move
    // goes from (i, j) to (i or i+1, j or j+1), so rows can be filled in order.
    let mut cur = vec![false; nb + 1];
    cur[0] = true;
    #[allow(clippy::needless_range_loop)] // `i == na` is a state too
    for i in 0..=na {
        let mut next = vec![false; nb + 1];
        for j in 0..=nb {
            if !cur[j] {
                continue;
            }
            if i < na && a[i] == Tok::Star {
                next[j] = true;
            }
            if j < nb && b[j] == Tok::Star {
                cur[j + 1] = true;
            }
            if i < na && j < nb {
                let compatible = match (a[i], b[j]) {
                    (Tok::Star | Tok::One, _) | (_, Tok::Star | Tok::One) => true,
                    (Tok::Lit(x), Tok::Lit(y)) => same_char(x, y, case_insensitive),
                };
                if compatible {
                    let ni = if a[i] == Tok::Star { i } else { i + 1 };
                    let nj = if b[j] == Tok::Star { j } else { j + 1 };
                    match (ni == i, nj == j) {
                        (true, true) => {}
                        (true, false) => cur[nj] = true,
                        (false, _) => next[nj] = true,
                    }
                }
            }
        }
        if i == na {
            return cur[nb];
        }
        cur = next;
    }
    false
}

fn same_char(a: char, b: char, case_insensitive: bool) -> bool {
    if case_insensitive {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_follows_iam_wildcards() {
        let cases: &[(&str, &str, bool, bool)] = &[
            ("s3:GetObject", "s3:GetObject", false, true),
            ("s3:Get*", "s3:GetObject", false, true),
            ("s3:*", "s3:GetObject", false, true),
            ("*", "anything", false, true),
            ("*", "", false, true),
            ("s3:Get?bject", "s3:GetObject", false, true),
            ("s3:Get?", "s3:GetObject", false, false),
            ("S3:GETOBJECT", "s3:GetObject", true, true),
            ("S3:GETOBJECT", "s3:GetObject", false, false),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::b/x/y.png", false, true),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::bb/x", false, false),
            ("a*b*c", "aXXbYYc", false, true),
            ("a*b*c", "aXXbYY", false, false),
            ("", "", false, true),
            ("", "a", false, false),
            ("**", "abc", false, true),
        ];
        for (p, v, ci, want) in cases {
            assert_eq!(matches(p, v, *ci), *want, "matches({p:?}, {v:?}, {ci})");
        }
    }

    #[test]
    fn covers_only_when_every_requested_value_is_matched() {
        let cases: &[(&str, &str, bool)] = &[
            ("arn:aws:s3:::b/*", "arn:aws:s3:::b/*", true),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::b/prefix/*", true),
            ("arn:aws:s3:::*", "arn:aws:s3:::b/*", true),
            ("*", "arn:aws:s3:::b/*", true),
            ("arn:aws:s3:::b/prefix/*", "arn:aws:s3:::b/*", false),
            ("arn:aws:s3:::b/?", "arn:aws:s3:::b/*", false),
            ("arn:aws:s3:::b/x", "arn:aws:s3:::b/*", false),
            ("kms:ReEncrypt*", "kms:ReEncrypt*", true),
            ("kms:*", "kms:ReEncrypt*", true),
            ("kms:ReEncryptFrom", "kms:ReEncrypt*", false),
            ("s3:Get?bject", "s3:GetObject", true),
            ("s3:Get??", "s3:Get?", false),
            ("s3:Get??", "s3:Get??", true),
        ];
        for (p, q, want) in cases {
            assert_eq!(covers(p, q, false), *want, "covers({p:?}, {q:?})");
        }
        assert!(covers("KMS:*", "kms:Decrypt", true));
    }

    #[test]
    fn overlaps_when_some_value_is_named_by_both() {
        let cases: &[(&str, &str, bool)] = &[
            ("arn:aws:s3:::b/secret/*", "arn:aws:s3:::b/*", true),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::b/secret/*", true),
            ("arn:aws:s3:::other/*", "arn:aws:s3:::b/*", false),
            ("s3:Put*", "s3:GetObject", false),
            ("s3:*Object", "s3:Get*", true),
            ("*", "", true),
            ("a?c", "abc", true),
            ("a?c", "abbc", false),
            ("a*", "*b", true),
            ("a*", "b*", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(overlaps(a, b, false), *want, "overlaps({a:?}, {b:?})");
            assert_eq!(overlaps(b, a, false), *want, "overlaps({b:?}, {a:?})");
        }
    }
}
