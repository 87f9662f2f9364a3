//! Money: an exact decimal amount with its ISO 4217 currency.
//!
//! Amounts are `rust_decimal::Decimal`, never floats. Storage uses [`MinorUnits`] (an `i64` count
//! of the currency's minor unit, e.g. cents) so that SQL sums are exact on every backend.
//! [`allocate`] splits an amount across weights without creating or losing a minor unit.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Active ISO 4217 currency codes with their minor-unit exponent.
const CURRENCIES: &[(&str, u32)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWL", 2),
];

/// An ISO 4217 currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency {
    code: [u8; 3],
    exponent: u32,
}

/// Problems with money values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not an active ISO 4217 code.
    #[error("`{0}` is not an ISO 4217 currency code")]
    UnknownCurrency(String),
    /// Not a decimal number.
    #[error("`{0}` is not a decimal amount")]
    NotANumber(String),
    /// More decimals than the currency's minor unit allows.
    #[error("{currency} amounts have at most {exponent} decimals")]
    TooPrecise {
        /// The currency.
        currency: String,
        /// Its minor-unit exponent.
        exponent: u32,
    },
    /// Outside the range that can be stored.
    #[error("amount out of range")]
    OutOfRange,
    /// Two amounts in different currencies were combined.
    #[error("currency mismatch: {0} and {1}")]
    CurrencyMismatch(String, String),
}

impl Currency {
    /// The euro, the most common currency in the seeds.
    pub const EUR: Currency = Currency {
        code: *b"EUR",
        exponent: 2,
    };

    /// Parses an upper-case ISO 4217 code.
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        CURRENCIES
            .iter()
            .find(|(code, _)| *code == s)
            .map(|(code, exponent)| {
                let b = code.as_bytes();
                Currency {
                    code: [b[0], b[1], b[2]],
                    exponent: *exponent,
                }
            })
            .ok_or_else(|| MoneyError::UnknownCurrency(s.to_owned()))
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // The bytes come from the ASCII table above.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// Number of decimals of the minor unit (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn exponent(&self) -> u32 {
        self.exponent
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> Self {
        c.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount as a whole number of minor units (cents): the storage representation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct MinorUnits(pub i64);

/// Storage: minor units are kept as BIGINT.
impl From<i64> for MinorUnits {
    fn from(v: i64) -> Self {
        MinorUnits(v)
    }
}

impl From<MinorUnits> for i64 {
    fn from(v: MinorUnits) -> Self {
        v.0
    }
}

/// An exact amount in a currency. JSON: `{"amount": "123.45", "currency": "EUR"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MoneyRepr", into = "MoneyRepr")]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

#[cfg(feature = "openapi")]
mod schema {
    use std::borrow::Cow;

    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
    use utoipa::{PartialSchema, ToSchema};

    impl PartialSchema for super::Currency {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .pattern(Some("^[A-Z]{3}$"))
                .description(Some("ISO 4217 currency code"))
                .examples([serde_json::json!("EUR")])
                .into()
        }
    }

    impl ToSchema for super::Currency {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("Currency")
        }
    }

    impl PartialSchema for super::Money {
        fn schema() -> RefOr<Schema> {
            super::MoneyRepr::schema()
        }
    }

    impl ToSchema for super::Money {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("Money")
        }
    }
}

/// The wire form of [`Money`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MoneyRepr {
    /// Decimal string with at most the currency's minor-unit decimals.
    #[cfg_attr(feature = "openapi", schema(example = "123.45"))]
    pub amount: String,
    /// ISO 4217 code.
    #[cfg_attr(feature = "openapi", schema(example = "EUR"))]
    pub currency: String,
}

impl TryFrom<MoneyRepr> for Money {
    type Error = MoneyError;
    fn try_from(r: MoneyRepr) -> Result<Self, Self::Error> {
        let currency = Currency::parse(&r.currency)?;
        let amount =
            Decimal::from_str(r.amount.trim()).map_err(|_| MoneyError::NotANumber(r.amount))?;
        Money::new(amount, currency)
    }
}

impl From<Money> for MoneyRepr {
    fn from(m: Money) -> Self {
        MoneyRepr {
            amount: m.amount_string(),
            currency: m.currency.code().to_owned(),
        }
    }
}

impl Money {
    /// An amount that must fit the currency's minor unit exactly.
    pub fn new(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let normalized = amount.normalize();
        if normalized.scale() > currency.exponent() {
            return Err(MoneyError::TooPrecise {
                currency: currency.code().to_owned(),
                exponent: currency.exponent(),
            });
        }
        let m = Money {
            amount: normalized,
            currency,
        };
        m.to_minor()?;
        Ok(m)
    }

    /// Zero in `currency`.
    pub fn zero(currency: Currency) -> Self {
        Money {
            amount: Decimal::ZERO,
            currency,
        }
    }

    /// Rebuilds an amount from stored minor units.
    pub fn from_minor(minor: MinorUnits, currency: Currency) -> Self {
        Money {
            amount: Decimal::new(minor.0, currency.exponent()),
            currency,
        }
    }

    /// Rounds any decimal to the currency's minor unit, half away from zero.
    pub fn round(amount: Decimal, currency: Currency) -> Self {
        let amount = amount
            .round_dp_with_strategy(currency.exponent(), RoundingStrategy::MidpointAwayFromZero);
        Money { amount, currency }
    }

    /// The storage form.
    pub fn to_minor(&self) -> Result<MinorUnits, MoneyError> {
        let scaled = self
            .amount
            .checked_mul(Decimal::from(10_i64.pow(self.currency.exponent())))
            .ok_or(MoneyError::OutOfRange)?;
        i64::try_from(scaled.trunc())
            .map(MinorUnits)
            .map_err(|_| MoneyError::OutOfRange)
    }

    /// The decimal amount.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The amount with exactly the currency's decimals, e.g. `"12.50"`.
    pub fn amount_string(&self) -> String {
        let mut a = self.amount;
        a.rescale(self.currency.exponent());
        a.to_string()
    }

    /// Sum of two amounts of the same currency.
    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(
                self.currency.to_string(),
                other.currency.to_string(),
            ));
        }
        Ok(Money {
            amount: self.amount + other.amount,
            currency: self.currency,
        })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount_string(), self.currency)
    }
}

/// Splits `total` minor units in proportion to `weights` (largest remainder method): the parts
/// always sum to `total` exactly, each part is within one unit of its exact share, and ties go
/// to the earlier weight. All-zero or empty weights give all to the first part (or nothing).
pub fn allocate(total: MinorUnits, weights: &[Decimal]) -> Vec<MinorUnits> {
    if weights.is_empty() {
        return Vec::new();
    }
    let sum: Decimal = weights.iter().copied().map(|w| w.max(Decimal::ZERO)).sum();
    let mut parts = vec![MinorUnits(0); weights.len()];
    if sum.is_zero() {
        parts[0] = total;
        return parts;
    }
    let total_dec = Decimal::from(total.0);
    let mut remainders = Vec::with_capacity(weights.len());
    let mut assigned: i64 = 0;
    for (i, w) in weights.iter().enumerate() {
        let exact = total_dec * w.max(&Decimal::ZERO) / sum;
        let floor = exact.floor();
        let whole = i64::try_from(floor).unwrap_or(0);
        parts[i] = MinorUnits(whole);
        assigned += whole;
        remainders.push((exact - floor, i));
    }
    // Hand out the remaining units to the largest fractional parts, earlier index first on ties.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut left = total.0 - assigned;
    let step = if left >= 0 { 1 } else { -1 };
    let mut k = 0;
    while left != 0 && !remainders.is_empty() {
        let idx = remainders[k % remainders.len()].1;
        parts[idx].0 += step;
        left -= step;
        k += 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eur(s: &str) -> Result<Money, MoneyError> {
        Money::try_from(MoneyRepr {
            amount: s.to_owned(),
            currency: "EUR".to_owned(),
        })
    }

    #[test]
    fn parses_and_prints_with_the_currency_decimals() {
        let m = eur("12.5").expect("valid");
        assert_eq!(m.amount_string(), "12.50");
        assert_eq!(m.to_minor(), Ok(MinorUnits(1250)));
        let json = serde_json::to_string(&m).expect("json");
        assert_eq!(json, r#"{"amount":"12.50","currency":"EUR"}"#);
    }

    #[test]
    fn rejects_sub_cent_amounts_unknown_currencies_and_garbage() {
        assert!(matches!(eur("0.001"), Err(MoneyError::TooPrecise { .. })));
        assert!(matches!(eur("ten"), Err(MoneyError::NotANumber(_))));
        assert!(matches!(
            eur("79228162514264337593543950335"),
            Err(MoneyError::OutOfRange)
        ));
        assert!(matches!(
            eur("92233720368547758.08"),
            Err(MoneyError::OutOfRange)
        ));
        assert!(matches!(
            Currency::parse("EURO"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert!(matches!(
            Currency::parse("eur"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        let yen = Currency::parse("JPY").expect("yen");
        assert!(Money::new(Decimal::new(105, 1), yen).is_err());
    }

    #[test]
    fn adding_different_currencies_is_an_error() {
        let a = eur("1").expect("eur");
        let b = Money::zero(Currency::parse("USD").expect("usd"));
        assert!(matches!(
            a.checked_add(&b),
            Err(MoneyError::CurrencyMismatch(..))
        ));
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(
            Money::round(Decimal::new(1005, 3), Currency::EUR).amount_string(),
            "1.01"
        );
        assert_eq!(
            Money::round(Decimal::new(-1005, 3), Currency::EUR).amount_string(),
            "-1.01"
        );
    }

    #[test]
    fn allocate_splits_a_cent_remainder_to_the_largest_fractions() {
        let parts = allocate(MinorUnits(100), &[Decimal::ONE, Decimal::ONE, Decimal::ONE]);
        assert_eq!(parts, vec![MinorUnits(34), MinorUnits(33), MinorUnits(33)]);
    }

    proptest! {
        #[test]
        fn allocation_never_creates_or_loses_a_cent(
            total in -10_000_000i64..10_000_000,
            weights in proptest::collection::vec(0u32..10_000, 1..12),
        ) {
            let w: Vec<Decimal> = weights.iter().map(|x| Decimal::from(*x)).collect();
            let parts = allocate(MinorUnits(total), &w);
            prop_assert_eq!(parts.len(), w.len());
            prop_assert_eq!(parts.iter().map(|p| p.0).sum::<i64>(), total);
            let sum: Decimal = w.iter().copied().sum();
            if !sum.is_zero() {
                for (p, wi) in parts.iter().zip(&w) {
                    let exact = Decimal::from(total) * wi / sum;
                    prop_assert!((Decimal::from(p.0) - exact).abs() < Decimal::ONE);
                }
            }
        }

        #[test]
        fn minor_units_round_trip(minor in -1_000_000_000_000i64..1_000_000_000_000) {
            let m = Money::from_minor(MinorUnits(minor), Currency::EUR);
            prop_assert_eq!(m.to_minor(), Ok(MinorUnits(minor)));
            let back: Money = serde_json::from_str(&serde_json::to_string(&m).unwrap_or_default())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, m);
        }
    }
}
