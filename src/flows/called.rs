//! Timing of PSP calls for the operator console's timeline: a call site wraps the provider call
//! in [`timed`], and the answer carries a [`PspCallNote`] that `App::record_answer` writes with
//! the change it leads to (same DB transaction, no extra round trip).

use std::future::Future;
use std::ops::Deref;
use std::time::Instant;

use crate::psp::PspResult;
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
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        };
        Called { result, note }
    }
}

/// Runs one PSP call and notes how long it took.
pub async fn timed(operation: &str, call: impl Future<Output = PspResult>) -> Called {
    let started = Instant::now();
    let result = call.await;
    Called::new(operation, result, started)
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
