//! Delivering issued documents: how a recipient wants them (the channel), when a location lets
//! them go out (sending windows in its local time), and how long to wait after a failed try.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};

crate::accounts::text_enum!(
    /// How a recipient gets its documents.
    DeliveryChannel {
        /// An e-mail with the documents attached (PDF, and UBL when the recipient takes it).
        Email = "email",
        /// An e-mail saying the document waits in the portal, with a link that opens it.
        PortalNotice = "portal_notice",
        /// Nothing is sent; the recipient pulls documents from the portal.
        None = "none",
    }
);

crate::accounts::text_enum!(
    /// Where a delivery stands.
    DeliveryStatus {
        /// Waiting for its sending window or its next try.
        Queued = "queued",
        /// Accepted by the mail server.
        Sent = "sent",
        /// Refused for good by the mail server (a mailbox that does not exist, a 5xx reply).
        Bounced = "bounced",
        /// Given up: it could not be made or sent (every try failed, or a malformed address).
        Failed = "failed",
    }
);

/// Tries before a delivery that keeps failing for a passing reason is given up.
pub const MAX_ATTEMPTS: i32 = 8;

/// How long to wait before try `attempt + 1` after `attempt` failed for a passing reason: one
/// minute, then five, fifteen, an hour, four, then twelve hours.
pub fn retry_after(attempt: i32) -> Duration {
    match attempt {
        i32::MIN..=1 => Duration::minutes(1),
        2 => Duration::minutes(5),
        3 => Duration::minutes(15),
        4 => Duration::hours(1),
        5 => Duration::hours(4),
        _ => Duration::hours(12),
    }
}

/// One window: on these days, from `from` to `to` local time (`to` after `from`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The days (ISO weekdays: mon ... sun).
    pub days: Vec<Weekday>,
    /// Opens at.
    pub from: NaiveTime,
    /// Closes at.
    pub to: NaiveTime,
}

/// When a location's documents may go out: windows in the location's time zone. No windows
/// means any time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendingWindows {
    /// IANA time zone the windows are in.
    pub time_zone: chrono_tz::Tz,
    /// The windows.
    pub windows: Vec<Window>,
}

/// Why sending windows were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// A window that closes before it opens.
    #[error("window {0} closes before it opens")]
    Inverted(usize),
    /// A window without days.
    #[error("window {0} has no days")]
    NoDays(usize),
}

impl SendingWindows {
    /// Checked windows.
    pub fn new(time_zone: chrono_tz::Tz, windows: Vec<Window>) -> Result<Self, WindowError> {
        for (i, w) in windows.iter().enumerate() {
            if w.to <= w.from {
                return Err(WindowError::Inverted(i));
            }
            if w.days.is_empty() {
                return Err(WindowError::NoDays(i));
            }
        }
        Ok(SendingWindows { time_zone, windows })
    }

    /// `now` when a window is open, else the next instant one opens (within two weeks; the
    /// windows always open within one).
    pub fn next_open(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        if self.windows.is_empty() {
            return now;
        }
        let local = now.with_timezone(&self.time_zone);
        let mut best: Option<DateTime<Utc>> = None;
        for offset in 0..8 {
            let day = local.date_naive() + Duration::days(offset);
            for w in self
                .windows
                .iter()
                .filter(|w| w.days.contains(&day.weekday()))
            {
                let (Some(open), Some(close)) = (
                    self.instant(day.and_time(w.from)),
                    self.instant(day.and_time(w.to)),
                ) else {
                    continue;
                };
                let candidate = if open <= now && now < close {
                    now
                } else if open > now {
                    open
                } else {
                    continue;
                };
                if best.is_none_or(|b| candidate < b) {
                    best = Some(candidate);
                }
            }
            if best.is_some() {
                break;
            }
        }
        best.unwrap_or(now + Duration::hours(1))
    }

    /// A local wall-clock time as an instant; a time a clock change skips is moved past the gap.
    fn instant(&self, local: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
        (0..4).find_map(|h| {
            self.time_zone
                .from_local_datetime(&(local + Duration::hours(h)))
                .earliest()
                .map(|d| d.with_timezone(&Utc))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekdays_8_to_18() -> SendingWindows {
        SendingWindows::new(
            chrono_tz::Europe::Amsterdam,
            vec![Window {
                days: vec![
                    Weekday::Mon,
                    Weekday::Tue,
                    Weekday::Wed,
                    Weekday::Thu,
                    Weekday::Fri,
                ],
                from: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
                to: NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default(),
            }],
        )
        .expect("windows")
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    #[test]
    fn inside_a_window_documents_go_now_and_outside_at_the_next_opening() {
        let w = weekdays_8_to_18();
        // Wednesday 2026-12-02 10:00 in Amsterdam (UTC+1).
        assert_eq!(
            w.next_open(at("2026-12-02T09:00:00Z")),
            at("2026-12-02T09:00:00Z")
        );
        // Wednesday 19:00 local: Thursday 08:00 local.
        assert_eq!(
            w.next_open(at("2026-12-02T18:00:00Z")),
            at("2026-12-03T07:00:00Z")
        );
        // Saturday: Monday 08:00 local.
        assert_eq!(
            w.next_open(at("2026-12-05T12:00:00Z")),
            at("2026-12-07T07:00:00Z")
        );
        // Summer time: Monday 2026-06-01 08:00 local is 06:00 UTC.
        assert_eq!(
            w.next_open(at("2026-05-31T12:00:00Z")),
            at("2026-06-01T06:00:00Z")
        );
    }

    #[test]
    fn no_windows_means_any_time_and_bad_windows_are_refused() {
        let any = SendingWindows::new(chrono_tz::UTC, vec![]).expect("empty");
        assert_eq!(
            any.next_open(at("2026-12-05T03:00:00Z")),
            at("2026-12-05T03:00:00Z")
        );
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default();
        assert_eq!(
            SendingWindows::new(
                chrono_tz::UTC,
                vec![Window {
                    days: vec![Weekday::Mon],
                    from: t(18),
                    to: t(8)
                }]
            ),
            Err(WindowError::Inverted(0))
        );
        assert_eq!(
            SendingWindows::new(
                chrono_tz::UTC,
                vec![Window {
                    days: vec![],
                    from: t(8),
                    to: t(18)
                }]
            ),
            Err(WindowError::NoDays(0))
        );
    }

    #[test]
    fn retries_wait_longer_each_time() {
        let waits: Vec<Duration> = (1..=MAX_ATTEMPTS).map(retry_after).collect();
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(waits[0], Duration::minutes(1));
    }
}
