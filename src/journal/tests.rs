//! Unit tests of the journal: writing, reading back, and what the reader
//! makes of truncated, damaged or unknown files.

use super::*;
use std::time::Duration;

fn header() -> Header {
    Header {
        format_version: JOURNAL_FORMAT_VERSION,
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
        plan_digest: "sha256:00".into(),
        started_at: "2026-11-28T02:50:07Z".into(),
        pid: 7,
        rollback: false,
    }
}

fn started(step: usize) -> Record {
    Record::Step(StepRecord::Started {
        step,
        address: format!("aws_s3_bucket_cors_configuration.b{step}"),
        action: Action::Update,
        target: Target::BucketCors {
            bucket: format!("b{step}"),
        },
        previous: None,
        previous_fingerprint: "absent".into(),
        writing: Some("{\"CORSRules\":[]}".into()),
        at: "t".into(),
    })
}

fn lines(records: &[Record]) -> String {
    records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap_or_default() + "\n")
        .collect()
}

#[test]
fn timestamps_are_utc_calendar_dates() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_833_007);
    assert_eq!(utc_timestamp(t), "2026-11-28T02:30:07Z");
    assert_eq!(
        compact_timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400)),
        "20000229T000000Z"
    );
}

#[test]
fn reader_reports_applied_failed_and_unknown_steps() {
    let err = RecordedError {
        code: Some("NoSuchBucket".into()),
        message: "gone".into(),
        meaning: "m".into(),
    };
    let text = lines(&[
        Record::Header(header()),
        started(1),
        Record::Step(StepRecord::Applied {
            step: 1,
            at: "t".into(),
        }),
        started(2),
        Record::Step(StepRecord::Failed {
            step: 2,
            error: err.clone(),
            at: "t".into(),
        }),
        started(3),
        started(4),
        Record::Step(StepRecord::Unknown {
            step: 4,
            error: err.clone(),
            at: "t".into(),
        }),
    ]);
    assert!(text.contains(r#""state":"unknown""#), "{text}");
    let j = parse_journal(Path::new("j"), &text).unwrap();
    let outcomes: Vec<_> = j.steps.iter().map(|s| s.outcome.clone()).collect();
    assert_eq!(
        outcomes,
        vec![
            StepOutcome::Applied,
            StepOutcome::Failed(err.clone()),
            StepOutcome::Unknown,
            StepOutcome::Uncertain(err),
        ]
    );
    let uncertain: Vec<bool> = j.steps.iter().map(|s| s.outcome.is_uncertain()).collect();
    assert_eq!(uncertain, vec![false, false, true, true]);
    assert!(j.to_string().contains("outcome unknown: gone"), "{j}");
    assert!(!j.truncated_tail);
    assert_eq!(j.end, None);
}

#[test]
fn reader_tolerates_a_truncated_last_line() {
    let mut text = lines(&[Record::Header(header()), started(1)]);
    let applied = serde_json::to_string(&Record::Step(StepRecord::Applied {
        step: 1,
        at: "t".into(),
    }))
    .unwrap();
    text.push_str(&applied[..applied.len() / 2]);
    let j = parse_journal(Path::new("j"), &text).unwrap();
    assert!(j.truncated_tail);
    assert_eq!(j.steps[0].outcome, StepOutcome::Unknown);
}

#[test]
fn a_complete_record_without_its_newline_counts_as_truncated() {
    let mut text = lines(&[Record::Header(header()), started(1)]);
    text.push_str(
        &serde_json::to_string(&Record::Step(StepRecord::Applied {
            step: 1,
            at: "t".into(),
        }))
        .unwrap(),
    );
    let j = parse_journal(Path::new("j"), &text).unwrap();
    assert!(j.truncated_tail);
    assert_eq!(j.steps[0].outcome, StepOutcome::Unknown);
}

#[test]
fn a_damaged_line_before_the_last_is_an_error_naming_the_line() {
    let text = format!(
        "{}{{\"record\":\n{}",
        lines(&[Record::Header(header())]),
        lines(&[started(1)])
    );
    match parse_journal(Path::new("j"), &text) {
        Err(JournalError::Damaged { line, .. }) => assert_eq!(line, 2),
        other => panic!("expected damaged, got {other:?}"),
    }
}

#[test]
fn a_journal_without_header_is_refused() {
    let text = lines(&[started(1)]);
    assert!(parse_journal(Path::new("j"), &text).is_err());
    assert!(matches!(
        parse_journal(Path::new("j"), ""),
        Err(JournalError::NoHeader { .. })
    ));
}

#[test]
fn verified_fingerprint_is_kept_only_when_converged() {
    let text = lines(&[
        Record::Header(header()),
        started(1),
        Record::Step(StepRecord::Applied {
            step: 1,
            at: "t".into(),
        }),
        started(2),
        Record::Step(StepRecord::Applied {
            step: 2,
            at: "t".into(),
        }),
        Record::Verified {
            step: 1,
            fingerprint: "sha256:aa".into(),
            converged: true,
            at: "t".into(),
        },
        Record::Verified {
            step: 2,
            fingerprint: "sha256:bb".into(),
            converged: false,
            at: "t".into(),
        },
        Record::End {
            outcome: EndOutcome::NotConverged,
            at: "t".into(),
        },
    ]);
    let j = parse_journal(Path::new("j"), &text).unwrap();
    assert_eq!(
        j.steps[0].verified_fingerprint.as_deref(),
        Some("sha256:aa")
    );
    assert_eq!(j.steps[1].verified_fingerprint, None);
    assert_eq!(j.end, Some(EndOutcome::NotConverged));
}

#[test]
fn a_second_journal_in_the_same_second_gets_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = Journal::create(dir.path(), header()).unwrap();
    let b = Journal::create(dir.path(), header()).unwrap();
    assert_ne!(a.path(), b.path());
    assert_eq!(read_journal(a.path()).unwrap().header, header());
    assert_eq!(read_journal(b.path()).unwrap().header, header());
}

#[test]
fn journal_file_round_trips_through_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::create(&dir.path().join("backups"), header()).unwrap();
    j.append(&started(1)).unwrap();
    j.append(&Record::Step(StepRecord::Applied {
        step: 1,
        at: "t".into(),
    }))
    .unwrap();
    let name = j
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    assert!(
        name.starts_with("journal-") && name.ends_with(&format!("-{}.jsonl", std::process::id())),
        "{name}"
    );
    let read = read_journal(j.path()).unwrap();
    assert_eq!(read.header, header());
    assert_eq!(read.steps.len(), 1);
    assert_eq!(read.steps[0].outcome, StepOutcome::Applied);
}
