//! What is shown on stderr while a command works, only on a terminal: a
//! spinner while the account is read, a progress bar while apply writes.

use std::io::IsTerminal;

/// A spinner on stderr; shown only when asked for and stderr is a terminal.
pub struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    /// Start spinning with `message`, if `wanted` and stderr is a terminal.
    pub fn start(message: &'static str, wanted: bool) -> Self {
        if !wanted || !std::io::stderr().is_terminal() {
            return Spinner(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(message);
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        Spinner(Some(bar))
    }

    /// Stop and erase it.
    pub fn stop(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
    }
}

/// A progress bar on stderr over the writes of an apply; shown only when
/// asked for and stderr is a terminal.
pub struct WriteBar(Option<indicatif::ProgressBar>);

impl WriteBar {
    /// A bar of `total` writes, if `wanted` and stderr is a terminal.
    pub fn start(total: usize, wanted: bool) -> Self {
        if !wanted || !std::io::stderr().is_terminal() {
            return WriteBar(None);
        }
        let bar = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} writes  {wide_msg}")
        {
            bar.set_style(style);
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        WriteBar(Some(bar))
    }

    /// What apply calls as each write ends.
    pub fn progress(&self) -> crate::apply::WriteProgress {
        match &self.0 {
            None => crate::apply::WriteProgress::default(),
            Some(bar) => {
                let bar = bar.clone();
                crate::apply::WriteProgress::new(move |done, total, address| {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                    bar.set_message(address.to_string());
                })
            }
        }
    }

    /// Erase it (the report follows on stdout).
    pub fn stop(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
    }
}
