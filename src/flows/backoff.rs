//! Waiting between retries while the database is unreachable (a restart, a failover): 50 ms,
//! doubling up to 2 s, until a deadline (`database.write_retry_secs` from the first try). One
//! type for the flows' write, re-read and view-read loops, so they cannot drift apart.

use std::time::{Duration, Instant};

/// The first pause.
const FIRST: Duration = Duration::from_millis(50);
/// The longest pause.
const MAX: Duration = Duration::from_secs(2);

/// Pauses of a retry loop with a deadline.
#[derive(Debug, Clone)]
pub struct Backoff {
    pause: Duration,
    give_up: Instant,
}

impl Backoff {
    /// Retries until `give_up`.
    pub fn until(give_up: Instant) -> Self {
        Self {
            pause: FIRST,
            give_up,
        }
    }

    /// Retries for `within` from now.
    pub fn within(within: Duration) -> Self {
        Self::until(Instant::now() + within)
    }

    /// When it gives up.
    pub fn deadline(&self) -> Instant {
        self.give_up
    }

    /// Whether the deadline has passed (no more retries).
    pub fn expired(&self) -> bool {
        Instant::now() >= self.give_up
    }

    /// The pause before the next retry (each one twice the last, at most 2 s).
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.pause;
        self.pause = (self.pause * 2).min(MAX);
        pause
    }

    /// Gives the pooled database connection back (never held while waiting) and waits the next
    /// pause.
    pub async fn wait(&mut self) {
        crate::store::session::release();
        tokio::time::sleep(self.next_pause()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_from_50_ms_up_to_2_s() {
        let mut b = Backoff::within(Duration::from_secs(10));
        let ms: Vec<u128> = (0..8).map(|_| b.next_pause().as_millis()).collect();
        assert_eq!(ms, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
        assert!(!b.expired());
    }

    #[test]
    fn a_passed_deadline_is_expired() {
        let b = Backoff::within(Duration::ZERO);
        assert!(b.expired());
        let later = Backoff::until(b.deadline() + Duration::from_secs(60));
        assert!(!later.expired());
    }
}
