//! Timestamps in 100-nanosecond ticks since the Unix epoch: the contract writes `lastUpdated`
//! with 7 fractional digits, and storing ticks keeps "strictly increasing" exact.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

/// A UTC instant with 100 ns resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticks(pub i64);

/// The far-future expiry used for preauths that reserve no money.
pub const FAR_FUTURE: Ticks = Ticks(2_534_023_007_999_999_999);

impl Ticks {
    pub fn from_datetime(dt: DateTime<Utc>) -> Self {
        let nanos = dt.timestamp_subsec_nanos() as i64;
        Ticks(dt.timestamp() * 10_000_000 + nanos / 100)
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        let secs = self.0.div_euclid(10_000_000);
        let sub = (self.0.rem_euclid(10_000_000) * 100) as u32;
        Utc.timestamp_opt(secs, sub).single().unwrap_or_default()
    }

    /// `yyyy-MM-ddTHH:mm:ss.fffffffZ`, as the contract writes `DateTime` fields.
    pub fn to_wire(self) -> String {
        let frac = self.0.rem_euclid(10_000_000);
        format!(
            "{}.{frac:07}Z",
            self.to_datetime().format("%Y-%m-%dT%H:%M:%S")
        )
    }

    pub fn date(self) -> NaiveDate {
        self.to_datetime().date_naive()
    }

    pub fn plus_seconds(self, s: i64) -> Ticks {
        Ticks(self.0.saturating_add(s.saturating_mul(10_000_000)))
    }

    /// The next version stamp: now, but always later than the previous one.
    pub fn next_after(now: Ticks, prev: Ticks) -> Ticks {
        if now > prev { now } else { Ticks(prev.0 + 1) }
    }
}

/// Where the service reads the time; tests and the simulator drive it explicitly.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Ticks;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Ticks {
        Ticks::from_datetime(Utc::now())
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn new(start: Ticks) -> Self {
        Self(std::sync::atomic::AtomicI64::new(start.0))
    }

    pub fn advance_seconds(&self, s: i64) {
        self.0
            .fetch_add(s * 10_000_000, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Ticks {
        Ticks(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_has_seven_digits() {
        let t = Ticks(16_679_025_301_234_567);
        assert_eq!(t.to_wire(), "2022-11-08T10:15:30.1234567Z");
        assert_eq!(Ticks::from_datetime(t.to_datetime()), t);
        assert_eq!(FAR_FUTURE.to_wire(), "9999-12-31T23:59:59.9999999Z");
    }

    #[test]
    fn strictly_increasing() {
        assert_eq!(Ticks::next_after(Ticks(5), Ticks(9)), Ticks(10));
        assert_eq!(Ticks::next_after(Ticks(11), Ticks(9)), Ticks(11));
    }
}
