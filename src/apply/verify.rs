//! Verification after the writes (step 6 of the apply sequence): each
//! applied change is re-read until AWS shows it as written.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use backon::RetryableWithContext;
use futures::StreamExt;

use super::guards::{parse_cors, parse_policy};
use super::{
    ApplyOptions, ApplyReport, ChangeStatus, Interrupt, NotConverged, PlannedCall, READ_CONCURRENCY,
};
use crate::aws::Clients;
use crate::journal::{self, Journal, JournalError, Record};
use crate::model::{Action, Target, fingerprint};
use crate::plan::{Change, Plan};
use crate::policy;
use crate::state;

/// The pause between two verification rounds.
const POLL_PAUSE: Duration = Duration::from_millis(500);

/// Whether `current` shows `change` as written; `Err` says how it differs.
fn converged(change: &Change, current: Option<&str>) -> Result<(), String> {
    let after = change.after.as_deref();
    match (&change.target, change.action, current) {
        (_, Action::Delete, None) => Ok(()),
        (_, Action::Delete, Some(_)) => Err("still exists".to_string()),
        (_, _, None) => Err("does not exist".to_string()),
        (Target::Attachment { .. }, _, Some(_)) => Ok(()),
        (Target::BucketCors { .. }, _, Some(cur)) => {
            let want = parse_cors(after.unwrap_or_default(), "the written CORS configuration")?;
            let got = parse_cors(cur, "the CORS configuration AWS returns")?;
            if policy::cors_equivalent(&want, &got) {
                Ok(())
            } else {
                Err(format!(
                    "AWS returns a different CORS configuration: {}",
                    compact(cur)
                ))
            }
        }
        (
            Target::Role { .. }
            | Target::TrustPolicy { .. }
            | Target::InlinePolicy { .. }
            | Target::KeyPolicy { .. },
            _,
            Some(cur),
        ) => {
            let want = parse_policy(after.unwrap_or_default(), "the written document")?;
            let got = parse_policy(cur, "the document AWS returns")?;
            if policy::equivalent(&want, &got) {
                Ok(())
            } else {
                Err(format!(
                    "AWS returns a different document: {}",
                    compact(cur)
                ))
            }
        }
    }
}

fn compact(text: &str) -> String {
    let c = serde_json::from_str::<serde_json::Value>(text)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| text.to_string());
    if c.chars().count() > 300 {
        format!("{}...", c.chars().take(300).collect::<String>())
    } else {
        c
    }
}

/// Why a verification round did not end the polling with every change seen.
enum Unverified {
    /// Some changes are not visible as written yet: poll again.
    NotYet,
    Interrupted,
    Journal(JournalError),
}

/// What the polling rounds work on, moved into each round and back.
struct Round<'a> {
    /// (position in write order, change) not yet seen as written.
    pending: Vec<(usize, &'a Change)>,
    /// Per pending change, the fingerprint and difference last seen.
    last: BTreeMap<usize, (String, String)>,
    journal: &'a mut Journal,
    /// Rounds so far: an interrupt ends the polling, but never before the first.
    count: u32,
}

/// Re-read each applied change until AWS shows it as written, every 500 ms
/// until `verify_timeout` (the last read at the deadline), and journal what
/// was seen. An interrupt ends the waiting; what is still pending is
/// reported as not converged.
pub(super) async fn verify(
    clients: &Clients,
    plan: &Plan,
    ordered: &[(usize, u8, PlannedCall)],
    options: &ApplyOptions,
    journal: &mut Journal,
    report: &mut ApplyReport,
) -> Result<(), JournalError> {
    let pending: Vec<(usize, &Change)> = report
        .outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.status == ChangeStatus::Applied)
        .map(|(n, _)| (n, &plan.changes[ordered[n].0]))
        .collect();
    let deadline = Instant::now() + options.verify_timeout;
    // A pause of 500 ms, shortened to end at the deadline; none after it.
    let pauses = std::iter::from_fn(move || {
        let left = deadline.saturating_duration_since(Instant::now());
        (!left.is_zero()).then(|| POLL_PAUSE.min(left))
    });
    let interrupt = &options.interrupt;
    let poll = |round| poll_once(clients, interrupt, round);
    let sleeper = options.interrupt.clone();
    let round = Round {
        pending,
        last: BTreeMap::new(),
        journal,
        count: 0,
    };
    let (round, result) = poll
        .retry(pauses)
        .sleep(move |pause| sleeper.sleep(pause))
        .when(|e| matches!(e, Unverified::NotYet))
        .context(round)
        .await;
    match result {
        Ok(()) | Err(Unverified::NotYet) => {}
        Err(Unverified::Interrupted) => report.interrupted = true,
        Err(Unverified::Journal(e)) => return Err(e),
    }
    let Round {
        pending,
        mut last,
        journal,
        ..
    } = round;
    for (n, change) in pending {
        let (fingerprint, detail) = last
            .remove(&n)
            .unwrap_or_else(|| ("absent".to_string(), "not verified".to_string()));
        journal.append(&Record::Verified {
            step: n + 1,
            fingerprint,
            converged: false,
            at: journal::now(),
        })?;
        let detail = if report.interrupted {
            format!("verification interrupted; last seen: {detail}")
        } else {
            detail
        };
        report.not_converged.push(NotConverged {
            address: change.address.clone(),
            detail,
        });
    }
    Ok(())
}

/// One round: re-read every pending change, journal those seen as written,
/// keep the others pending.
async fn poll_once<'a>(
    clients: &Clients,
    interrupt: &Interrupt,
    mut round: Round<'a>,
) -> (Round<'a>, Result<(), Unverified>) {
    round.count += 1;
    if round.count > 1 && interrupt.is_triggered() {
        return (round, Err(Unverified::Interrupted));
    }
    let result = read_pending(clients, &mut round).await;
    (round, result)
}

async fn read_pending(clients: &Clients, round: &mut Round<'_>) -> Result<(), Unverified> {
    let reads: Vec<_> = futures::stream::iter(round.pending.iter().copied())
        .map(|(n, c)| async move { (n, c, state::read_current(clients, &c.target).await) })
        .buffered(READ_CONCURRENCY)
        .collect()
        .await;
    let mut still = Vec::new();
    for (n, change, read) in reads {
        match read {
            Ok(current) => match converged(change, current.as_deref()) {
                Ok(()) => {
                    round.last.remove(&n);
                    round
                        .journal
                        .append(&Record::Verified {
                            step: n + 1,
                            fingerprint: fingerprint(current.as_deref()),
                            converged: true,
                            at: journal::now(),
                        })
                        .map_err(Unverified::Journal)?;
                }
                Err(detail) => {
                    round
                        .last
                        .insert(n, (fingerprint(current.as_deref()), detail));
                    still.push((n, change));
                }
            },
            Err(e) => {
                round
                    .last
                    .insert(n, ("absent".to_string(), format!("cannot re-read it: {e}")));
                still.push((n, change));
            }
        }
    }
    round.pending = still;
    if round.pending.is_empty() {
        Ok(())
    } else {
        Err(Unverified::NotYet)
    }
}
