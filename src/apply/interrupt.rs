//! Ctrl-C handling for apply: the first interrupt lets the write in flight
//! finish and be journaled, and starts no new write; a second one exits at
//! once (the journal then shows that step as started with an unknown outcome,
//! which rollback handles by re-reading the resource).

use std::sync::Arc;

use tokio::sync::watch;

/// A flag set once when the user asks to stop. Cheap to clone; every clone
/// sees the same flag. Tests trigger it by hand.
#[derive(Debug, Clone)]
pub struct Interrupt {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Interrupt {
    fn default() -> Self {
        Interrupt::new()
    }
}

impl Interrupt {
    /// A flag that only [`Interrupt::trigger`] sets.
    pub fn new() -> Self {
        let (tx, _rx) = watch::channel(false);
        Interrupt { tx: Arc::new(tx) }
    }

    /// A flag set by SIGINT (Ctrl-C). Must be called inside a tokio runtime.
    /// Installing the handler replaces the default "die at once" for the
    /// rest of the process, so a second Ctrl-C exits with status 130. Call it
    /// after the confirmation prompt: before it, Ctrl-C should simply quit.
    pub fn on_ctrl_c() -> Self {
        let interrupt = Interrupt::new();
        let flag = interrupt.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            eprintln!(
                "\ninterrupt received: finishing the write in flight and recording it in the journal; \
                 no new write will start (press Ctrl-C again to stop at once)"
            );
            flag.trigger();
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "stopped at once: the journal shows the write in flight as started, outcome unknown"
                );
                std::process::exit(130);
            }
        });
        interrupt
    }

    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once the flag is set.
    pub async fn triggered(&self) {
        let mut rx = self.tx.subscribe();
        // `wait_for` checks the current value first, so no trigger is missed.
        let _ = rx.wait_for(|set| *set).await;
    }
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
}
