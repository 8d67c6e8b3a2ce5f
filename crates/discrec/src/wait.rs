//! How long a caller waits for a drive another client holds: the
//! [`WaitPolicy`] of a lock, a write and the cluster lock alike.

use std::time::{Duration, Instant};

/// How long to wait for a drive another client holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitPolicy {
    /// Not at all: a drive another client holds is refused at once
    /// (`E_IMAPI_RECORDER_LOCKED`), as IMAPI2 does.
    #[default]
    NoWait,
    /// As long as it takes, first come, first served.
    Forever,
    /// At most this long; then the error says who still holds the drive.
    AtMost(Duration),
}

impl WaitPolicy {
    /// `Some(t)`: wait at most `t`; `None`: wait forever.
    pub fn at_most(timeout: Option<Duration>) -> WaitPolicy {
        timeout.map_or(WaitPolicy::Forever, WaitPolicy::AtMost)
    }

    /// Whether it waits at all.
    pub fn waits(self) -> bool {
        self != WaitPolicy::NoWait
    }

    /// How long a wait may last: `None` forever (and for no wait, which
    /// does not wait).
    pub fn timeout(self) -> Option<Duration> {
        match self {
            WaitPolicy::AtMost(t) => Some(t),
            WaitPolicy::NoWait | WaitPolicy::Forever => None,
        }
    }

    /// The instant a wait begun at `from` gives up: `None` for none (a
    /// deadline past what the clock can count, such as `Duration::MAX`,
    /// is none).
    pub fn deadline(self, from: Instant) -> Option<Instant> {
        self.timeout().and_then(|t| from.checked_add(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_says_whether_and_how_long() {
        let now = Instant::now();
        assert!(!WaitPolicy::NoWait.waits() && WaitPolicy::default() == WaitPolicy::NoWait);
        assert_eq!(WaitPolicy::at_most(None), WaitPolicy::Forever);
        assert_eq!(WaitPolicy::Forever.deadline(now), None);
        let two = WaitPolicy::at_most(Some(Duration::from_secs(2)));
        assert_eq!(two.deadline(now), Some(now + Duration::from_secs(2)));
        assert_eq!(WaitPolicy::AtMost(Duration::MAX).deadline(now), None, "past the clock is forever");
    }
}
