//! Payment reminders (dunning): the rules, without I/O. A policy has levels, each reached a
//! number of days after the due date (negative: a friendly notice before it); a receivable gets
//! each level at most once, and a run sends only the highest level it has reached that is above
//! every level it already got, so a receivable found 40 days late gets the 30-day reminder, not
//! the earlier ones as well. Fees and interest of a level are charged to the receivable when its
//! notice goes out; interest is simple interest at the level's yearly rate on what is owed, for
//! the days past due. Quiet hours are local times of the receivable's location in which nothing
//! is sent; a notice that falls due in them waits for their end.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{Currency, MinorUnits, Money};

/// How a reminder reaches the party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// E-mail to the party's contact address.
    Email,
    /// A text message to the party's phone number.
    Sms,
    /// A letter to the party's postal address, printed as PDF by the location and posted.
    Letter,
}

impl Channel {
    /// The stored and API code.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Letter => "letter",
        }
    }
}

impl std::str::FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "email" => Ok(Channel::Email),
            "sms" => Ok(Channel::Sms),
            "letter" => Ok(Channel::Letter),
            other => Err(format!("unknown reminder channel `{other}`")),
        }
    }
}

/// Where a notice is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NoticeStatus {
    /// Waiting to be sent (again, after a temporary failure, at `not_before`).
    Queued,
    /// Handed to the mail server or SMS provider; no answer recorded yet. A notice left here by
    /// a process that stopped mid-send is never sent again by itself (it may have gone out).
    Sending,
    /// Accepted by the mail server or SMS provider.
    Sent,
    /// Refused for good, or still failing after the last attempt.
    Failed,
    /// Not sent: by the time it was due the receivable was paid, cancelled, written off,
    /// disputed or in a payment plan, or the party had opted out.
    Cancelled,
}

impl NoticeStatus {
    /// The stored and API code.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeStatus::Queued => "queued",
            NoticeStatus::Sending => "sending",
            NoticeStatus::Sent => "sent",
            NoticeStatus::Failed => "failed",
            NoticeStatus::Cancelled => "cancelled",
        }
    }
}

impl std::str::FromStr for NoticeStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "queued" => NoticeStatus::Queued,
            "sending" => NoticeStatus::Sending,
            "sent" => NoticeStatus::Sent,
            "failed" => NoticeStatus::Failed,
            "cancelled" => NoticeStatus::Cancelled,
            other => return Err(format!("unknown notice status `{other}`")),
        })
    }
}

/// How many times a notice is tried before it is `failed`.
pub const MAX_ATTEMPTS: i64 = 8;

/// How long to wait before attempt `attempts + 1` after `attempts` failed ones: 1, 5, 15, 30
/// minutes, then 1, 2, 4 hours.
pub fn backoff(attempts: i64) -> Duration {
    let minutes = match attempts {
        ..=1 => 1,
        2 => 5,
        3 => 15,
        4 => 30,
        5 => 60,
        6 => 120,
        _ => 240,
    };
    Duration::minutes(minutes)
}

/// The level (1-based, in the policy's order) a receivable `days_past_due` days after its due
/// date should get now, given the highest level it already got: the highest level reached,
/// when it is above the ones already sent.
pub fn level_due(days_after_due: &[i64], days_past_due: i64, highest_sent: i64) -> Option<i64> {
    let reached = days_after_due
        .iter()
        .rposition(|d| *d <= days_past_due)
        .map(|i| i as i64 + 1)?;
    (reached > highest_sent).then_some(reached)
}

/// Simple interest at `yearly_percent` on `owed` for `days` days, rounded to the currency.
pub fn interest(owed: MinorUnits, currency: Currency, yearly_percent: Decimal, days: i64) -> Money {
    if days <= 0 || owed.0 <= 0 || yearly_percent <= Decimal::ZERO {
        return Money::from_minor(MinorUnits(0), currency);
    }
    let owed = Money::from_minor(owed, currency).amount();
    Money::round(
        owed * yearly_percent / Decimal::from(100) * Decimal::from(days) / Decimal::from(365),
        currency,
    )
}

/// Local times in which nothing is sent; `start` after `end` spans midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    /// From (local time).
    pub start: NaiveTime,
    /// Until (local time).
    pub end: NaiveTime,
}

impl QuietHours {
    /// Whether local time `t` is quiet.
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// The first instant at or after `now` outside these hours in `time_zone` (UTC when the
    /// zone is not known).
    pub fn next_allowed(&self, time_zone: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        match time_zone.parse::<chrono_tz::Tz>() {
            Ok(tz) => self.next_in(&tz, now),
            Err(_) => self.next_in(&Utc, now),
        }
    }

    fn next_in<Z: TimeZone>(&self, tz: &Z, now: DateTime<Utc>) -> DateTime<Utc> {
        let local = now.with_timezone(tz);
        if !self.contains(local.time()) {
            return now;
        }
        let today = local.date_naive();
        let day = if self.start > self.end && local.time() >= self.start {
            today.succ_opt().unwrap_or(today)
        } else {
            today
        };
        let end = day.and_time(self.end);
        // The end of the quiet hours as a real instant (skipping a gap a clock change makes).
        (0..4)
            .find_map(|h| {
                tz.from_local_datetime(&(end + Duration::hours(h)))
                    .earliest()
                    .map(|d| d.with_timezone(&Utc))
            })
            .unwrap_or(now + Duration::hours(1))
    }
}

/// Days from `due` to `as_of` (negative before the due date).
pub fn days_past_due(due: NaiveDate, as_of: NaiveDate) -> i64 {
    (as_of - due).num_days()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default()
    }

    #[test]
    fn the_highest_level_reached_above_those_sent() {
        let levels = [-3, 7, 30, 60];
        assert_eq!(level_due(&levels, -5, 0), None);
        assert_eq!(level_due(&levels, -3, 0), Some(1));
        assert_eq!(level_due(&levels, 40, 0), Some(3));
        assert_eq!(level_due(&levels, 40, 3), None);
        assert_eq!(level_due(&levels, 61, 3), Some(4));
        assert_eq!(level_due(&levels, 10, 1), Some(2));
    }

    #[test]
    fn interest_is_simple_and_rounded_to_the_cent() {
        let eur = Currency::parse("EUR").unwrap_or_else(|_| unreachable!());
        // 1000.00 at 8 % a year for 30 days: 6.575... → 6.58.
        let i = interest(MinorUnits(100_000), eur, Decimal::from(8), 30);
        assert_eq!(i.to_minor().map(|m| m.0), Ok(658));
        assert_eq!(
            interest(MinorUnits(100_000), eur, Decimal::from(8), 0).amount(),
            Decimal::ZERO
        );
    }

    #[test]
    fn quiet_hours_over_midnight_end_the_next_morning_local_time() {
        let q = QuietHours {
            start: t(21, 0),
            end: t(8, 0),
        };
        assert!(q.contains(t(23, 0)) && q.contains(t(7, 59)) && !q.contains(t(8, 0)));
        // 22:30 in Madrid (UTC+1 in December) is 21:30 UTC; the next allowed is 08:00 Madrid.
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 21, 30, 0).unwrap();
        let next = q.next_allowed("Europe/Madrid", now);
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 12, 8, 7, 0, 0).unwrap());
        // 06:00 Madrid waits two hours, the same day.
        let early = Utc.with_ymd_and_hms(2026, 12, 8, 5, 0, 0).unwrap();
        assert_eq!(
            q.next_allowed("Europe/Madrid", early),
            Utc.with_ymd_and_hms(2026, 12, 8, 7, 0, 0).unwrap()
        );
        let day = Utc.with_ymd_and_hms(2026, 12, 8, 12, 0, 0).unwrap();
        assert_eq!(q.next_allowed("Europe/Madrid", day), day);
    }

    #[test]
    fn backoff_grows_and_stops_growing() {
        assert!(backoff(1) < backoff(2) && backoff(6) < backoff(7));
        assert_eq!(backoff(7), backoff(20));
    }
}
