//! Asking before writing, Terraform's way: only `yes` approves.
//!
//! The prompt is on stderr so that stdout stays the plan (pipeable). With no
//! terminal on stdin and no `--yes`, apply refuses instead of hanging or
//! reading a stray line of a pipe as consent.

/// Whether apply must ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// `--yes` was given.
    Skip,
    /// Ask on the terminal.
    Ask,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "standard input is not a terminal, so apply cannot ask for confirmation: \
     review the plan and run again with `--yes` to apply it; nothing was written"
)]
pub struct NoTerminal;

/// Decide from `--yes` and whether stdin is a terminal.
pub fn confirmation(yes: bool, stdin_is_terminal: bool) -> Result<Confirmation, NoTerminal> {
    match (yes, stdin_is_terminal) {
        (true, _) => Ok(Confirmation::Skip),
        (false, true) => Ok(Confirmation::Ask),
        (false, false) => Err(NoTerminal),
    }
}

/// Print `question` and Terraform's explanation on stderr and read an
/// answer; `true` only for `yes`.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    let term = console::Term::stderr();
    term.write_line(&format!(
        "\n{question}\n  a2i-fix will perform the actions described above.\n  Only 'yes' will be accepted to approve.\n"
    ))?;
    let answer: String = dialoguer::Input::new()
        .with_prompt("  Enter a value")
        .allow_empty(true)
        .report(false)
        .interact_text_on(&term)?;
    Ok(is_approval(&answer))
}

/// The apply question, `Do you want to perform these actions?`.
pub fn confirm_apply() -> anyhow::Result<bool> {
    confirm("Do you want to perform these actions?")
}

/// Only `yes` (surrounding blanks ignored) approves; `y`, `YES`, `yes please` do not.
pub fn is_approval(answer: &str) -> bool {
    answer.trim() == "yes"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_flag_skips_the_question_even_without_terminal() {
        assert_eq!(confirmation(true, false), Ok(Confirmation::Skip));
        assert_eq!(confirmation(true, true), Ok(Confirmation::Skip));
    }

    #[test]
    fn without_terminal_and_without_yes_apply_refuses() {
        assert_eq!(confirmation(false, false), Err(NoTerminal));
        assert!(NoTerminal.to_string().contains("`--yes`"));
        assert_eq!(confirmation(false, true), Ok(Confirmation::Ask));
    }

    #[test]
    fn only_the_word_yes_approves() {
        assert!(is_approval("yes"));
        assert!(is_approval(" yes\n"));
        for no in ["y", "Yes", "YES", "no", "", "yes please"] {
            assert!(!is_approval(no), "{no:?}");
        }
    }
}
