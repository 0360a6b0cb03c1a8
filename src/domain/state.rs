//! The one authority over a transaction's status (contract §10, architecture invariant 4).
//!
//! Every writer — API flows, PSP answers, notifications, the reconciler, the checkout return —
//! asks [`decide`] and can only change a status through the [`Transition`] it hands out: the
//! store takes a `Transition`, never a bare status, and a `Transition` has no public
//! constructor. Final states are never left, except the two moves the contract names for a
//! preauth that succeeded: `Cancelled` through a confirmed cancel, `Expired` through expiry —
//! and only while nothing of it was captured ([`Facts`]): the same rule for Billwerk's Cancel,
//! a PSP's reversal notification or an expiry (issue #16). Money (items, refunds, chargebacks,
//! reversals) is not status: a `Succeeded` payment still gains those, under the store's money
//! rules.

use super::{TxKind, TxStatus};

/// Why a status change is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// The PSP's word on this transaction's own outcome: a synchronous answer, a notification,
    /// a status query or the result of a checkout.
    PspOutcome,
    /// A confirmed cancellation: Billwerk's `Cancel`, a reversal confirmed by the PSP, or the
    /// shopper aborting before paying.
    Cancel,
    /// The authorization or the checkout lapsed.
    Expiry,
}

impl Trigger {
    pub const ALL: [Trigger; 3] = [Trigger::PspOutcome, Trigger::Cancel, Trigger::Expiry];
}

/// What the authority must know about a transaction's money besides its status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// A preauth has a capture that neither failed nor was cancelled: part of its money is
    /// taken, so the authorization can no longer be cancelled or expire.
    pub captured: bool,
}

impl Facts {
    /// Nothing captured (any transaction that is not a preauth, or a preauth without captures).
    pub const NONE: Facts = Facts { captured: false };
}

/// A status change that [`decide`] allowed. Only this module creates one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    from: TxStatus,
    to: TxStatus,
}

impl Transition {
    /// The status the change starts from; the store applies it only while this still holds.
    pub fn from(&self) -> TxStatus {
        self.from
    }

    /// The new status.
    pub fn to(&self) -> TxStatus {
        self.to
    }
}

/// What [`decide`] says about a proposed status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Move to the new status.
    Move(Transition),
    /// Already in that status: nothing to change.
    Same,
    /// Older news: a `Pending` after the outcome is known, or a way back to `Initiated`.
    /// Ignored quietly.
    Stale,
    /// A different outcome for a transaction whose outcome is final. Never applied; the caller
    /// verifies it with the PSP and records it for an operator.
    Contradiction,
}

impl Verdict {
    /// The transition, when the verdict is to move.
    pub fn transition(self) -> Option<Transition> {
        match self {
            Verdict::Move(t) => Some(t),
            _ => None,
        }
    }
}

/// Whether a status is final: `Failed`, `Cancelled`, `Expired`, and `Succeeded` (which only a
/// preauth may leave, through cancel or expiry).
pub fn is_final(s: TxStatus) -> bool {
    !matches!(s, TxStatus::Initiated | TxStatus::Pending)
}

/// The state machine of contract §10: may a `kind` transaction in `from` move to `to`, given
/// what it holds (`facts`)?
pub fn decide(
    kind: TxKind,
    from: TxStatus,
    to: TxStatus,
    trigger: Trigger,
    facts: Facts,
) -> Verdict {
    use TxStatus::*;
    let allow = Verdict::Move(Transition { from, to });
    if from == to {
        return Verdict::Same;
    }
    let releasable = kind == TxKind::Preauth && !facts.captured;
    match (from, to) {
        (_, Initiated) => Verdict::Stale,
        (Initiated | Pending, _) => allow,
        (Succeeded, Cancelled) if releasable && trigger == Trigger::Cancel => allow,
        (Succeeded, Expired) if releasable && trigger == Trigger::Expiry => allow,
        (Succeeded | Failed | Cancelled | Expired, Pending) => Verdict::Stale,
        (Succeeded | Failed | Cancelled | Expired, Succeeded | Failed | Cancelled | Expired) => {
            Verdict::Contradiction
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TxStatus::*;

    const KINDS: [TxKind; 3] = [TxKind::Preauth, TxKind::Payment, TxKind::Refund];

    /// Every (kind, from, to, trigger) against the contract's rules, stated independently.
    #[test]
    fn exhaustive_table() {
        for kind in KINDS {
            for &from in TxStatus::ALL {
                for &to in TxStatus::ALL {
                    for (trigger, captured) in Trigger::ALL
                        .into_iter()
                        .flat_map(|t| [(t, false), (t, true)])
                    {
                        let v = decide(kind, from, to, trigger, Facts { captured });
                        let expected = if from == to {
                            Verdict::Same
                        } else if to == Initiated || (is_final(from) && to == Pending) {
                            Verdict::Stale
                        } else if !is_final(from)
                            || (kind == TxKind::Preauth
                                && !captured
                                && from == Succeeded
                                && ((to == Cancelled && trigger == Trigger::Cancel)
                                    || (to == Expired && trigger == Trigger::Expiry)))
                        {
                            Verdict::Move(Transition { from, to })
                        } else {
                            Verdict::Contradiction
                        };
                        assert_eq!(
                            v, expected,
                            "{kind:?} {from} -> {to} via {trigger:?}, captured {captured}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn final_states_are_never_left_by_psp_outcomes() {
        for kind in KINDS {
            for &from in TxStatus::ALL.iter().filter(|s| is_final(**s)) {
                for &to in TxStatus::ALL {
                    assert!(
                        decide(kind, from, to, Trigger::PspOutcome, Facts::NONE)
                            .transition()
                            .is_none(),
                        "{kind:?} {from} -> {to}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_issue_examples() {
        // A paid recurring payment told "declined" later stays paid.
        assert_eq!(
            decide(
                TxKind::Payment,
                Succeeded,
                Failed,
                Trigger::PspOutcome,
                Facts::NONE
            ),
            Verdict::Contradiction
        );
        // A late pending is old news.
        assert_eq!(
            decide(
                TxKind::Payment,
                Succeeded,
                Pending,
                Trigger::PspOutcome,
                Facts::NONE
            ),
            Verdict::Stale
        );
        // Billwerk's cancel of an authorized preauth.
        assert!(
            decide(
                TxKind::Preauth,
                Succeeded,
                Cancelled,
                Trigger::Cancel,
                Facts::NONE
            )
            .transition()
            .is_some()
        );
        // ... but not once anything of it was captured, whoever asks (issue #16).
        let captured = Facts { captured: true };
        for trigger in [Trigger::Cancel, Trigger::Expiry] {
            for to in [Cancelled, Expired] {
                assert_eq!(
                    decide(TxKind::Preauth, Succeeded, to, trigger, captured),
                    Verdict::Contradiction
                );
            }
        }
        // A payment is never cancelled once paid.
        assert_eq!(
            decide(
                TxKind::Payment,
                Succeeded,
                Cancelled,
                Trigger::Cancel,
                Facts::NONE
            ),
            Verdict::Contradiction
        );
    }
}
