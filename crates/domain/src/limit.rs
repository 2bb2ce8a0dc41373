//! The signup page's abuse limits beyond the API Gateway throttle: at most `max` valid
//! sign-ups per email address and per source address in each fixed window. Pure: the
//! counting lives in the table (one atomic counter per scope, key and window); this
//! judges a count and words the answer the person sees.

use std::fmt;
use std::str::FromStr;

/// What a limit counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Email,
    Source,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Email => "email",
            Scope::Source => "source",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Scope::Email => "this email address",
            Scope::Source => "your network address",
        }
    }
}

/// `max` sign-ups per `window_seconds`; `max == 0` is no limit (written `off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window_seconds: u64,
}

impl Limit {
    pub const OFF: Limit = Limit {
        max: 0,
        window_seconds: 0,
    };

    pub fn is_off(self) -> bool {
        self.max == 0
    }

    /// The fixed window `now` falls in: its start (part of the counter's key) and end
    /// (when the counter may be deleted, and when the person may try again).
    pub fn window(self, now: u64) -> (u64, u64) {
        let w = self.window_seconds.max(1);
        let start = now - now % w;
        (start, start + w)
    }

    /// Whether the sign-up that brought the window's count to `count` is admitted.
    pub fn judge(self, scope: Scope, count: u64, now: u64) -> Verdict {
        if self.is_off() || count <= u64::from(self.max) {
            return Verdict::Admit;
        }
        let (_, end) = self.window(now);
        Verdict::Refuse(Refusal {
            scope,
            limit: self,
            retry_after_seconds: end.saturating_sub(now).max(1),
        })
    }
}

/// `N/SECONDS` (e.g. `3/3600`), or `off`.
impl FromStr for Limit {
    type Err = String;
    fn from_str(s: &str) -> Result<Limit, String> {
        let s = s.trim();
        if s == "off" {
            return Ok(Limit::OFF);
        }
        let bad = || format!("{s:?} is not a limit; write MAX/SECONDS (e.g. 3/3600) or off");
        let (max, window) = s.split_once('/').ok_or_else(bad)?;
        let max: u32 = max.trim().parse().map_err(|_| bad())?;
        let window_seconds: u64 = window.trim().parse().map_err(|_| bad())?;
        if max == 0 || window_seconds == 0 {
            return Err(bad());
        }
        Ok(Limit { max, window_seconds })
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_off() {
            f.write_str("off")
        } else {
            write!(f, "{}/{}", self.max, self.window_seconds)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admit,
    Refuse(Refusal),
}

/// A refused sign-up: which limit, and how long until the window turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub scope: Scope,
    pub limit: Limit,
    pub retry_after_seconds: u64,
}

impl Refusal {
    /// What the person reads: the limit and the wait, in words.
    pub fn message(&self) -> String {
        format!(
            "Too many sign-ups from {}: at most {} every {}. Please try again in {}.",
            self.scope.words(),
            self.limit.max,
            duration_words(self.limit.window_seconds),
            duration_words(self.retry_after_seconds)
        )
    }
}

/// A duration as a person says it, rounded up to the unit (never "0 minutes").
pub fn duration_words(seconds: u64) -> String {
    let (n, unit) = if seconds < 60 {
        (seconds.max(1), "second")
    } else if seconds < 3600 {
        (seconds.div_ceil(60), "minute")
    } else if seconds < 86_400 {
        (seconds.div_ceil(3600), "hour")
    } else {
        (seconds.div_ceil(86_400), "day")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const THREE_AN_HOUR: Limit = Limit {
        max: 3,
        window_seconds: 3600,
    };

    /// The scope's name is part of every counter's key in the table: a new name would
    /// start every count afresh after a deploy.
    #[test]
    fn scopes_keep_their_names() {
        assert_eq!(Scope::Email.as_str(), "email");
        assert_eq!(Scope::Source.as_str(), "source");
    }

    #[test]
    fn limits_are_read_and_written_back() {
        assert_eq!("3/3600".parse::<Limit>().unwrap(), THREE_AN_HOUR);
        assert_eq!(" 3 / 3600 ".parse::<Limit>().unwrap(), THREE_AN_HOUR);
        assert_eq!("off".parse::<Limit>().unwrap(), Limit::OFF);
        for bad in ["", "3", "0/60", "3/0", "-1/60", "3/1h", "three/60"] {
            let e = bad.parse::<Limit>().unwrap_err();
            assert!(e.contains("MAX/SECONDS"), "{bad}: {e}");
        }
        assert_eq!(THREE_AN_HOUR.to_string(), "3/3600");
        assert_eq!(Limit::OFF.to_string(), "off");
    }

    #[test]
    fn the_sign_up_over_the_limit_is_refused_until_the_window_turns() {
        let now = 7200 + 600; // ten minutes into a window
        for count in 1..=3 {
            assert_eq!(THREE_AN_HOUR.judge(Scope::Email, count, now), Verdict::Admit);
        }
        let Verdict::Refuse(r) = THREE_AN_HOUR.judge(Scope::Email, 4, now) else {
            panic!("the fourth is refused");
        };
        assert_eq!(r.retry_after_seconds, 3000);
        assert_eq!(
            r.message(),
            "Too many sign-ups from this email address: at most 3 every 1 hour. Please try again in 50 minutes."
        );
        assert_eq!(Limit::OFF.judge(Scope::Source, 1_000_000, now), Verdict::Admit);
        let Verdict::Refuse(r) = THREE_AN_HOUR.judge(Scope::Source, 4, 7200 + 3599) else {
            panic!()
        };
        assert_eq!(r.retry_after_seconds, 1);
        assert!(r.message().contains("your network address") && r.message().ends_with("in 1 second."));
    }

    #[test]
    fn durations_are_worded_rounded_up() {
        assert_eq!(duration_words(0), "1 second");
        // Each unit starts at its own size.
        assert_eq!(duration_words(60), "1 minute");
        assert_eq!(duration_words(86_400), "1 day");
        assert_eq!(duration_words(59), "59 seconds");
        assert_eq!(duration_words(61), "2 minutes");
        assert_eq!(duration_words(3600), "1 hour");
        assert_eq!(duration_words(86_401), "2 days");
    }

    proptest! {
        /// The window holds `now`, and the wait ends exactly at its end.
        #[test]
        fn the_wait_ends_when_the_window_does(now in 0u64..10_000_000, window in 1u64..100_000, max in 1u32..50) {
            let limit = Limit { max, window_seconds: window };
            let (start, end) = limit.window(now);
            prop_assert!(start <= now && now < end && end - start == window);
            prop_assert_eq!(limit.judge(Scope::Email, u64::from(max), now), Verdict::Admit);
            match limit.judge(Scope::Email, u64::from(max) + 1, now) {
                Verdict::Refuse(r) => prop_assert_eq!(now + r.retry_after_seconds, end),
                Verdict::Admit => prop_assert!(false, "over the limit was admitted"),
            }
        }
    }
}
