//! Ctrl-C handling for apply: the first interrupt lets the write in flight
//! finish and be journaled, and starts no new write; a second one exits at
//! once (the journal then shows that step as started with an unknown outcome,
//! which rollback handles by re-reading the resource).

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// A flag set once when the user asks to stop. Cheap to clone; every clone
/// sees the same flag. Tests trigger it by hand.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    token: CancellationToken,
}

impl Interrupt {
    /// A flag that only [`Interrupt::trigger`] sets.
    pub fn new() -> Self {
        Interrupt::default()
    }

    /// A flag set by SIGINT (Ctrl-C). Must be called inside a tokio runtime.
    /// Installing the handler replaces the default "die at once" for the
    /// rest of the process, so a second Ctrl-C exits with status 130. Call it
    /// after the confirmation prompt: before it, Ctrl-C should simply quit.
    ///
    /// The handler is installed here, before this returns, and one listener
    /// serves both interrupts: a Ctrl-C that arrives before the listening task
    /// first runs, or between the first and the second wait, is still seen.
    pub fn on_ctrl_c() -> Self {
        let interrupt = Interrupt::new();
        let Ok(mut sigint) = ctrl_c_listener() else {
            // No handler: Ctrl-C keeps its default effect and stops at once.
            return interrupt;
        };
        let flag = interrupt.clone();
        tokio::spawn(async move {
            if sigint.recv().await.is_none() {
                return;
            }
            eprintln!(
                "\ninterrupt received: finishing the write in flight and recording it in the journal; \
                 no new write will start (press Ctrl-C again to stop at once)"
            );
            flag.trigger();
            if sigint.recv().await.is_some() {
                eprintln!(
                    "stopped at once: the journal shows the write in flight as started, outcome unknown"
                );
                std::process::exit(130);
            }
        });
        interrupt
    }

    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once the flag is set (at once if it already is).
    pub async fn triggered(&self) {
        self.token.cancelled().await;
    }

    /// Sleep for `duration`, or less if the flag is set meanwhile. The
    /// future owns what it needs, so it can serve as a retry's sleeper.
    pub fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + use<> {
        let token = self.token.clone();
        async move {
            tokio::select! {
                _ = tokio::time::sleep(duration) => {}
                _ = token.cancelled() => {}
            }
        }
    }
}

#[cfg(unix)]
fn ctrl_c_listener() -> std::io::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
}

#[cfg(windows)]
fn ctrl_c_listener() -> std::io::Result<tokio::signal::windows::CtrlC> {
    tokio::signal::windows::ctrl_c()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_trigger_is_seen_by_every_clone_and_by_waiters() {
        let a = Interrupt::new();
        let b = a.clone();
        assert!(!b.is_triggered());
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.triggered().await }
        });
        a.trigger();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("waiter woke up")
            .expect("waiter did not panic");
        assert!(b.is_triggered());
        // Waiting after the fact returns at once.
        tokio::time::timeout(std::time::Duration::from_secs(1), b.triggered())
            .await
            .expect("already triggered");
    }

    #[tokio::test]
    async fn a_trigger_cuts_a_sleep_short() {
        let a = Interrupt::new();
        let sleep = a.sleep(Duration::from_secs(60));
        a.trigger();
        tokio::time::timeout(Duration::from_secs(5), sleep)
            .await
            .expect("the sleep ended at the trigger");
    }
}
