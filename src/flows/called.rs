//! Timing of PSP calls for the operator console's timeline: a call site wraps the provider call
//! in [`timed`] (money calls), [`timed_status`] (status queries) or [`timed_lookup`] (searches
//! by our reference), and the answer carries a [`PspCallNote`]. `App::record_answer` and
//! `App::transition_noting` write it with the change it leads to (same DB transaction, no extra
//! round trip); a call that leads to no change is written on its own (`App::note_call`).

use std::future::Future;
use std::ops::Deref;
use std::time::Instant;

use crate::psp::{Lookup, PspError, PspResult};
use crate::store::PspCallNote;

/// A PSP answer with the note of the call that produced it; reads as the answer.
#[derive(Debug, Clone)]
pub struct Called {
    pub result: PspResult,
    pub note: PspCallNote,
}

impl Deref for Called {
    type Target = PspResult;
    fn deref(&self) -> &PspResult {
        &self.result
    }
}

impl Called {
    /// The note of `operation` answered by `result` after `started`. Only the result code and
    /// its description are kept: never card or account data.
    pub fn new(operation: &str, result: PspResult, started: Instant) -> Self {
        let note = PspCallNote {
            operation: operation.to_string(),
            result_code: result.result_code.clone(),
            description: result
                .description
                .clone()
                .or_else(|| match &result.outcome {
                    crate::psp::Outcome::Unknown(why) => Some(format!("no answer: {why}")),
                    crate::psp::Outcome::Declined(d) => Some(d.message.clone()),
                    _ => None,
                }),
            duration_ms: elapsed_ms(started),
        };
        Called { result, note }
    }
}

fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

impl PspCallNote {
    /// The note of a call that failed before the PSP answered about the transaction: the error's
    /// PSP code and message (never card or account data: adapters word these themselves).
    pub fn failed(operation: &str, e: &PspError, started: Instant) -> Self {
        PspCallNote {
            operation: operation.to_string(),
            result_code: e.psp_code.clone(),
            description: Some(format!("failed: {}", e.message)),
            duration_ms: elapsed_ms(started),
        }
    }

    /// The note of a search by our reference: what was found, or why nothing was.
    pub fn of_lookup(operation: &str, l: &Lookup, started: Instant) -> Self {
        match l {
            Lookup::Found(r) => Called::new(operation, r.clone(), started).note,
            Lookup::Failed(e) => Self::failed(operation, e, started),
            Lookup::NotFound | Lookup::Unsupported => PspCallNote {
                operation: operation.to_string(),
                result_code: None,
                description: Some(
                    if matches!(l, Lookup::NotFound) {
                        "not found: the PSP holds nothing under our reference"
                    } else {
                        "unsupported: the PSP cannot search by our reference"
                    }
                    .into(),
                ),
                duration_ms: elapsed_ms(started),
            },
        }
    }
}

/// Runs one PSP call and notes how long it took.
pub async fn timed(operation: &str, call: impl Future<Output = PspResult>) -> Called {
    let started = Instant::now();
    let result = call.await;
    Called::new(operation, result, started)
}

/// Runs one status query (`fetch_status`) and notes it, answered or failed.
pub async fn timed_status(
    operation: &str,
    call: impl Future<Output = Result<PspResult, PspError>>,
) -> (Result<PspResult, PspError>, PspCallNote) {
    let started = Instant::now();
    let result = call.await;
    let note = match &result {
        Ok(r) => Called::new(operation, r.clone(), started).note,
        Err(e) => PspCallNote::failed(operation, e, started),
    };
    (result, note)
}

/// Runs one search by our reference (`lookup`) and notes what it found.
pub async fn timed_lookup(
    operation: &str,
    call: impl Future<Output = Lookup>,
) -> (Lookup, PspCallNote) {
    let started = Instant::now();
    let found = call.await;
    let note = PspCallNote::of_lookup(operation, &found, started);
    (found, note)
}

/// An answer `App::record_answer` can record: a bare one, or one with its call's note.
pub trait Answer: Sync {
    fn result(&self) -> &PspResult;
    fn call(&self) -> Option<&PspCallNote>;
}

impl Answer for PspResult {
    fn result(&self) -> &PspResult {
        self
    }
    fn call(&self) -> Option<&PspCallNote> {
        None
    }
}

impl Answer for Called {
    fn result(&self) -> &PspResult {
        &self.result
    }
    fn call(&self) -> Option<&PspCallNote> {
        Some(&self.note)
    }
}
