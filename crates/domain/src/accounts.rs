//! The accounts vocabulary: kinds of payers, episodes and catalog items, episode status
//! transitions, quantities, time zones and the limits on what a clinical system may push.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name { $($(#[$vdoc])* $variant),* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stored and wire form.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)*
                    other => Err(format!(
                        "`{other}` is not one of: {}",
                        [$($text),*].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Storage: kept as its text.
        impl TryFrom<String> for $name {
            type Error = $crate::stored::Unreadable;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse().map_err(|e: String| $crate::stored::Unreadable::new(stringify!($name), s, e))
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_owned()
            }
        }
    };
}

pub(crate) use text_enum;

text_enum!(
    /// What kind of organisation pays.
    PayerKind {
        /// A health insurer (private or social).
        Insurer = "insurer",
        /// An employer or other company paying for care.
        Company = "company",
        /// A public authority (municipality, region, state programme).
        PublicAuthority = "public_authority",
        /// Anything else (a charity, a foreign institution).
        Other = "other",
    }
);

text_enum!(
    /// The kind of care an episode records.
    EpisodeKind {
        /// Ambulatory visit(s).
        Outpatient = "outpatient",
        /// A hospital admission.
        Inpatient = "inpatient",
        /// A stay in a long-term care home.
        LongTermStay = "long_term_stay",
        /// Care at the patient's home.
        HomeCare = "home_care",
    }
);

text_enum!(
    /// Where an episode stands.
    EpisodeStatus {
        /// Consumptions may be recorded.
        Open = "open",
        /// Temporarily not accepting consumptions (e.g. transfer pending).
        OnHold = "on_hold",
        /// Finished: no more consumptions; may be reopened with a reason.
        Closed = "closed",
        /// Opened by mistake; final.
        Cancelled = "cancelled",
    }
);

impl EpisodeStatus {
    /// Whether an episode may move from `self` to `to`.
    pub fn can_become(self, to: EpisodeStatus) -> bool {
        use EpisodeStatus::*;
        matches!(
            (self, to),
            (Open, OnHold)
                | (OnHold, Open)
                | (Open | OnHold, Closed)
                | (Closed, Open)
                | (Open | OnHold, Cancelled)
        )
    }

    /// Whether consumptions may be recorded against an episode in this status.
    pub fn accepts_consumptions(self) -> bool {
        self == EpisodeStatus::Open
    }
}

text_enum!(
    /// The kind of a catalog item.
    ServiceKind {
        /// A surgical or therapeutic procedure.
        Procedure = "procedure",
        /// A consultation or visit.
        Consultation = "consultation",
        /// A laboratory test.
        Lab = "lab",
        /// An imaging study.
        Imaging = "imaging",
        /// A consumable or implant.
        Material = "material",
        /// A drug.
        Medication = "medication",
        /// A day of stay (bed day, room day).
        StayDay = "stay_day",
        /// An hour of care (home care, nursing).
        CareHour = "care_hour",
        /// Anything else.
        Other = "other",
    }
);

/// Largest quantity accepted on one consumption.
pub const MAX_QUANTITY: i64 = 1_000_000;
/// Most decimals accepted on a quantity.
pub const MAX_QUANTITY_SCALE: u32 = 4;
/// Most consumptions accepted in one batch.
pub const MAX_BATCH: usize = 1_000;

/// A positive quantity with at most four decimals and at most [`MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, example = "1.5"))]
pub struct Quantity(Decimal);

impl Quantity {
    /// Validates a quantity.
    pub fn new(value: Decimal) -> Result<Self, String> {
        let value = value.normalize();
        if value <= Decimal::ZERO {
            Err("must be greater than zero".to_owned())
        } else if value > Decimal::from(MAX_QUANTITY) {
            Err(format!("must be at most {MAX_QUANTITY}"))
        } else if value.scale() > MAX_QUANTITY_SCALE {
            Err(format!("must have at most {MAX_QUANTITY_SCALE} decimals"))
        } else {
            Ok(Quantity(value))
        }
    }

    /// The value.
    pub fn value(&self) -> Decimal {
        self.0
    }
}

impl TryFrom<Decimal> for Quantity {
    type Error = String;
    fn try_from(d: Decimal) -> Result<Self, Self::Error> {
        Quantity::new(d)
    }
}

impl From<Quantity> for Decimal {
    fn from(q: Quantity) -> Self {
        q.0
    }
}

/// Checks an IANA time-zone name such as `Europe/Madrid`.
pub fn parse_time_zone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.parse::<chrono_tz::Tz>()
        .map_err(|_| format!("`{name}` is not an IANA time zone"))
}

/// Checks that a service date is plausible: not before 1900 and not more than a day ahead of
/// `now` (clinical systems' clocks drift, but services are not performed in the future).
pub fn check_performed_at(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
    let earliest = NaiveDate::from_ymd_opt(1900, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc());
    if earliest.is_some_and(|e| at < e) {
        return Err("must not be before 1900-01-01".to_owned());
    }
    if at > now + Duration::days(1) {
        return Err("must not be in the future".to_owned());
    }
    Ok(())
}

/// Checks a birth date: between 1880-01-01 and `today`.
pub fn check_birth_date(date: NaiveDate, today: NaiveDate) -> Result<(), String> {
    let earliest = NaiveDate::from_ymd_opt(1880, 1, 1).unwrap_or(NaiveDate::MIN);
    if date < earliest {
        Err("must not be before 1880-01-01".to_owned())
    } else if date > today {
        Err("must not be in the future".to_owned())
    } else {
        Ok(())
    }
}

/// Checks that a calendar date is plausible for billing data: 1900-01-01 to 2999-12-31.
pub fn check_date(date: NaiveDate) -> Result<(), String> {
    let lo = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
    let hi = NaiveDate::from_ymd_opt(2999, 12, 31).unwrap_or(NaiveDate::MAX);
    if date < lo || date > hi {
        Err("must be between 1900-01-01 and 2999-12-31".to_owned())
    } else {
        Ok(())
    }
}

/// A report's period from what was asked: `to` defaults to `today`, `from` to 1 January of
/// `to`'s year.
pub fn report_period(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    today: NaiveDate,
) -> (NaiveDate, NaiveDate) {
    use chrono::Datelike as _;
    let to = to.unwrap_or(today);
    let from = from.unwrap_or_else(|| NaiveDate::from_ymd_opt(to.year(), 1, 1).unwrap_or(to));
    (from, to)
}

/// Checks a report's period: both days plausible, `to` not before `from`, and the whole months
/// from `from`'s to `to`'s at most `max_months`. A refusal names the field, a code and why.
pub fn check_report_period(
    from: NaiveDate,
    to: NaiveDate,
    max_months: u32,
) -> Result<(), (&'static str, &'static str, String)> {
    use chrono::Datelike as _;
    for (field, d) in [("from", from), ("to", to)] {
        check_date(d).map_err(|m| (field, "invalid", m))?;
    }
    if to < from {
        return Err(("to", "before_from", "must not be before `from`".to_owned()));
    }
    let months = (to.year() - from.year()) * 12 + to.month() as i32 - from.month() as i32 + 1;
    if months > max_months as i32 {
        return Err((
            "to",
            "period_too_long",
            format!("a period covers at most {max_months} months"),
        ));
    }
    Ok(())
}

/// Whether two validity periods share a day; an absent bound is open-ended, and both ends
/// are inclusive.
pub fn periods_overlap(
    a_from: Option<NaiveDate>,
    a_to: Option<NaiveDate>,
    b_from: Option<NaiveDate>,
    b_to: Option<NaiveDate>,
) -> bool {
    let a_starts_in_time = match (a_from, b_to) {
        (Some(f), Some(t)) => f <= t,
        _ => true,
    };
    let b_starts_in_time = match (b_from, a_to) {
        (Some(f), Some(t)) => f <= t,
        _ => true,
    };
    a_starts_in_time && b_starts_in_time
}

/// Checks a validity range: `from` must not be after `to`.
pub fn check_validity(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<(), String> {
    match (from, to) {
        (Some(f), Some(t)) if f > t => Err("valid_to must not be before valid_from".to_owned()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn enums_round_trip_and_reject_unknown_values() {
        for k in ServiceKind::ALL {
            assert_eq!(k.as_str().parse::<ServiceKind>(), Ok(*k));
        }
        let err = "surgery".parse::<ServiceKind>().expect_err("unknown");
        assert!(err.contains("procedure"), "{err}");
        assert!(serde_json::from_str::<EpisodeKind>("\"daycare\"").is_err());
        assert_eq!(
            serde_json::to_string(&EpisodeKind::LongTermStay)
                .ok()
                .as_deref(),
            Some("\"long_term_stay\"")
        );
    }

    #[test]
    fn episode_status_transitions() {
        use EpisodeStatus::*;
        assert!(Open.can_become(Closed));
        assert!(Closed.can_become(Open));
        assert!(!Closed.can_become(Cancelled));
        assert!(!Cancelled.can_become(Open));
        assert!(!Open.can_become(Open));
        assert!(Open.accepts_consumptions());
        assert!(!OnHold.accepts_consumptions());
    }

    #[test]
    fn quantities_must_be_positive_bounded_and_not_too_precise() {
        assert!(Quantity::new(Decimal::ZERO).is_err());
        assert!(Quantity::new(Decimal::new(-1, 0)).is_err());
        assert!(Quantity::new(Decimal::new(1, 5)).is_err());
        assert!(Quantity::new(Decimal::from(MAX_QUANTITY + 1)).is_err());
        assert_eq!(
            Quantity::new(Decimal::new(15000, 4)).map(|q| q.value().to_string()),
            Ok("1.5".to_owned())
        );
    }

    #[test]
    fn dates_out_of_range_are_rejected() {
        let now = Utc::now();
        assert!(check_performed_at(now + Duration::days(3), now).is_err());
        assert!(check_performed_at(now - Duration::days(3), now).is_ok());
        let today = now.date_naive();
        assert!(check_birth_date(today + Duration::days(1), today).is_err());
        assert!(check_validity(Some(today), Some(today - Duration::days(1))).is_err());
        assert!(parse_time_zone("Europe/Madrid").is_ok());
        assert!(
            check_date(NaiveDate::from_ymd_opt(-5000, 1, 1).unwrap_or(NaiveDate::MIN)).is_err()
        );
        assert!(check_date(today).is_ok());
        assert!(parse_time_zone("Mars/Olympus").is_err());
    }

    #[test]
    fn open_ended_and_touching_periods_overlap() {
        let d = |s: &str| s.parse::<NaiveDate>().ok();
        assert!(periods_overlap(
            None,
            None,
            d("2026-01-01"),
            d("2026-12-31")
        ));
        assert!(periods_overlap(
            d("2026-01-01"),
            d("2026-06-30"),
            d("2026-06-30"),
            None
        ));
        assert!(!periods_overlap(
            d("2026-01-01"),
            d("2026-06-29"),
            d("2026-06-30"),
            None
        ));
    }

    proptest! {
        #[test]
        fn any_accepted_quantity_survives_json(units in 1i64..10_000_000_000, scale in 0u32..5) {
            let d = Decimal::new(units, scale);
            if let Ok(q) = Quantity::new(d) {
                let json = serde_json::to_string(&q).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let back: Quantity = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(back, q);
                prop_assert!(q.value() > Decimal::ZERO);
            }
        }
    }
}
