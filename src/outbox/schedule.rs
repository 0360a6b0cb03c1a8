//! When to try a failed webhook again, and when to give up. Pure functions.
//!
//! Backoff is exponential with **equal jitter**: the delay for attempt `n` (0-based) is
//! `base / 2 + jitter * base / 2` where `base = min(max, first * 2^n)`. Equal rather than full
//! jitter keeps at least half the backoff, so a struggling Billwerk is not hit again at once, while
//! still spreading replicas apart.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::Ticks;

/// The delay before the next attempt after `attempt` failures (0-based), given a unit `jitter`
/// sample in `[0, 1)` and the server's `Retry-After`, which wins when longer; capped at `max`.
pub fn next_delay(
    attempt: u32,
    first: Duration,
    max: Duration,
    jitter: f64,
    retry_after: Option<Duration>,
) -> Duration {
    let factor = 2u32.saturating_pow(attempt.min(31));
    let base = first.saturating_mul(factor).min(max);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let half = base / 2;
    let delay = half + half.mul_f64(jitter);
    match retry_after {
        Some(ra) if ra > delay => ra.min(max),
        _ => delay,
    }
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// True when a row pending since `pending_since` has passed the give-up horizon at `now`.
pub fn is_dead(pending_since: Ticks, now: Ticks, give_up_after: Duration) -> bool {
    let horizon = i64::try_from(give_up_after.as_secs()).unwrap_or(i64::MAX);
    now >= pending_since.plus_seconds(horizon)
}

/// `now` plus a duration, in ticks.
pub fn after(now: Ticks, d: Duration) -> Ticks {
    let ticks = i64::try_from(d.as_nanos() / 100).unwrap_or(i64::MAX);
    Ticks(now.0.saturating_add(ticks))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn doubles_with_equal_jitter_and_caps() {
        assert_eq!(next_delay(0, S(30), S(3600), 0.0, None), S(15));
        assert_eq!(
            next_delay(0, S(30), S(3600), 0.999_999_9, None).as_secs(),
            29
        );
        assert_eq!(next_delay(1, S(30), S(3600), 0.0, None), S(30));
        assert_eq!(next_delay(3, S(30), S(3600), 0.5, None), S(180));
        assert_eq!(next_delay(20, S(30), S(3600), 0.0, None), S(1800));
        assert_eq!(next_delay(200, S(30), S(3600), 1.0, None), S(3600));
        assert_eq!(next_delay(0, S(30), S(3600), f64::NAN, None), S(15));
    }

    #[test]
    fn retry_after_wins_when_longer_but_is_capped() {
        assert_eq!(next_delay(0, S(30), S(3600), 0.0, Some(S(120))), S(120));
        assert_eq!(next_delay(5, S(30), S(3600), 0.0, Some(S(1))), S(480));
        assert_eq!(next_delay(0, S(30), S(3600), 0.0, Some(S(99_999))), S(3600));
    }

    #[test]
    fn parses_retry_after() {
        let now = DateTime::parse_from_rfc2822("Wed, 21 Oct 2015 07:28:00 GMT")
            .expect("date")
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after(" 120 ", now), Some(S(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(S(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(S(0))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn gives_up_after_the_horizon() {
        let start = Ticks(1_000_000_000);
        let three_days = S(259_200);
        assert!(!is_dead(start, start.plus_seconds(259_199), three_days));
        assert!(is_dead(start, start.plus_seconds(259_200), three_days));
        assert_eq!(after(start, S(2)), start.plus_seconds(2));
    }
}
