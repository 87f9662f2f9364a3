//! The accounts HTTP API, one module per resource: handlers and the request and response types
//! (with their OpenAPI schemas). A handler authorises first, then parses the body, then calls
//! one `crate::service` function and maps its result to the API type. No SQL here.
//!
//! This module holds the value types several resources show: addresses, contacts and
//! identifiers (among them what e-invoices need: scheme identifiers, bank accounts, VAT ids),
//! their checks and their conversions to and from the stored forms.

pub mod audit_trail;
pub mod care_records;
pub mod carers;
pub mod catalog;
pub mod consumptions;
pub mod coverages;
pub mod episode_codings;
pub mod episodes;
pub mod locations;
pub mod notices;
pub mod patients;
pub mod payers;
pub mod placements;
pub mod practitioners;
pub mod timesheets;

use carebill_domain::Validation;
use serde::{Deserialize, Serialize};

use carebill_domain::identifiers::{Bic, Country, Iban, Scheme, SchemeId, VatId};
use carebill_domain::invoicing::PAYMENT_TERMS_MAX_DAYS;

use crate::service::{
    StoredAddress, StoredContact, StoredIdentifier, StoredPaymentTerms, StoredSchemeId,
};

/// A postal address. Every part is optional; `country` is ISO 3166-1 alpha-2.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Street lines.
    #[serde(default)]
    #[schema(example = json!(["Calle Mayor 1"]))]
    pub lines: Vec<String>,
    /// City.
    #[schema(example = "Madrid")]
    pub city: Option<String>,
    /// Postal code.
    #[schema(example = "28013")]
    pub postal_code: Option<String>,
    /// Region, province or state.
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[schema(example = "ES")]
    pub country: Option<String>,
}

impl Address {
    /// Checks lengths and the country code; errors go under `field`.
    pub fn validate(&self, field: &str, v: &mut Validation) {
        if self.lines.len() > 5 {
            v.add(format!("{field}.lines"), "too_many", "at most 5 lines");
        }
        for (i, line) in self.lines.iter().enumerate() {
            if line.chars().count() > 200 {
                v.add(
                    format!("{field}.lines.{i}"),
                    "too_long",
                    "must be at most 200 characters",
                );
            }
        }
        for (name, value) in [
            ("city", &self.city),
            ("postal_code", &self.postal_code),
            ("region", &self.region),
        ] {
            if value.as_ref().is_some_and(|s| s.chars().count() > 100) {
                v.add(
                    format!("{field}.{name}"),
                    "too_long",
                    "must be at most 100 characters",
                );
            }
        }
        if let Some(c) = &self.country
            && (c.len() != 2
                || !c.bytes().all(|b| b.is_ascii_uppercase())
                || Country::parse(c).is_err())
        {
            v.add(
                format!("{field}.country"),
                "invalid",
                "must be an ISO 3166-1 alpha-2 code such as ES",
            );
        }
    }
}

/// How to reach someone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// Phone number.
    #[schema(example = "+34 600 000 000")]
    pub phone: Option<String>,
    /// E-mail address.
    #[schema(example = "billing@example.org")]
    pub email: Option<String>,
}

impl Contact {
    /// Checks lengths and the shape of the e-mail address.
    pub fn validate(&self, field: &str, v: &mut Validation) {
        if self.phone.as_ref().is_some_and(|p| p.chars().count() > 40) {
            v.add(
                format!("{field}.phone"),
                "too_long",
                "must be at most 40 characters",
            );
        }
        if let Some(e) = &self.email {
            let ok = e.len() <= 254
                && e.split_once('@')
                    .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
            if !ok {
                v.add(
                    format!("{field}.email"),
                    "invalid",
                    "must be an e-mail address",
                );
            }
        }
    }
}

/// An identifier in a namespace, e.g. a national id or a hospital MRN.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Identifier {
    /// The namespace (`mrn`, `national_id`, `urn:oid:...`).
    #[schema(example = "mrn")]
    pub system: String,
    /// The value in that namespace.
    #[schema(example = "H1-000123")]
    pub value: String,
}

/// Checks a list of identifiers: non-blank, bounded, no duplicate system.
pub fn validate_identifiers(ids: &[Identifier], field: &str, v: &mut Validation) {
    if ids.len() > 10 {
        v.add(field, "too_many", "at most 10 identifiers");
    }
    let mut systems = std::collections::HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        v.text(&format!("{field}.{i}.system"), &id.system, 100);
        v.text(&format!("{field}.{i}.value"), &id.value, 100);
        if !systems.insert(id.system.trim()) {
            v.add(
                format!("{field}.{i}.system"),
                "duplicate",
                "one identifier per system",
            );
        }
    }
}

impl From<Address> for StoredAddress {
    fn from(a: Address) -> Self {
        StoredAddress {
            lines: a.lines,
            city: a.city,
            postal_code: a.postal_code,
            region: a.region,
            country: a.country,
        }
    }
}

impl From<StoredAddress> for Address {
    fn from(a: StoredAddress) -> Self {
        Address {
            lines: a.lines,
            city: a.city,
            postal_code: a.postal_code,
            region: a.region,
            country: a.country,
        }
    }
}

impl From<Contact> for StoredContact {
    fn from(c: Contact) -> Self {
        StoredContact {
            phone: c.phone,
            email: c.email,
        }
    }
}

impl From<StoredContact> for Contact {
    fn from(c: StoredContact) -> Self {
        Contact {
            phone: c.phone,
            email: c.email,
        }
    }
}

impl From<Identifier> for StoredIdentifier {
    /// Trimmed, as [`validate_identifiers`] checked them and list filters look them up.
    fn from(i: Identifier) -> Self {
        StoredIdentifier {
            system: i.system.trim().to_owned(),
            value: i.value.trim().to_owned(),
        }
    }
}

impl From<StoredIdentifier> for Identifier {
    fn from(i: StoredIdentifier) -> Self {
        Identifier {
            system: i.system,
            value: i.value,
        }
    }
}

/// An identifier within a scheme: an electronic address under its EAS code, or a legal
/// registration identifier under its ISO 6523 ICD code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemeIdentifier {
    /// The scheme code, e.g. `0088` (GS1 GLN), `9920` (Spanish VAT number), `0208` (Belgian
    /// enterprise number).
    #[schema(example = "0088")]
    pub scheme: String,
    /// The identifier within the scheme; a GLN (0088) must have a valid check digit.
    #[schema(example = "4000001000005")]
    pub id: String,
}

impl SchemeIdentifier {
    /// Checks the scheme code and the identifier under it; errors go under `field.scheme` and
    /// `field.id`.
    pub(crate) fn check(&self, field: &str, v: &mut Validation) -> Option<StoredSchemeId> {
        let scheme = v.check(
            &format!("{field}.scheme"),
            "invalid",
            Scheme::parse(&self.scheme),
        )?;
        let id = v.check(
            &format!("{field}.id"),
            "invalid",
            SchemeId::parse(scheme, &self.id),
        )?;
        Some(StoredSchemeId {
            scheme: id.scheme().code().to_owned(),
            id: id.value().to_owned(),
        })
    }
}

impl From<StoredSchemeId> for SchemeIdentifier {
    fn from(s: StoredSchemeId) -> Self {
        SchemeIdentifier {
            scheme: s.scheme,
            id: s.id,
        }
    }
}

/// A bank account that payments go to (credit transfer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankAccount {
    /// IBAN; its check digits are checked.
    #[schema(example = "ES9121000418450200051332")]
    pub iban: String,
    /// BIC of the bank.
    #[schema(example = "CAIXESBBXXX")]
    pub bic: Option<String>,
}

/// How long the recipients of invoices have to pay (EN 16931 BT-9, BT-20): a payer's terms
/// apply to invoices to it, a location's to its other invoices; without either, 30 days net.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentTerms {
    /// Days to pay, 0 (on receipt) to 365.
    #[schema(example = 60, minimum = 0, maximum = 365)]
    pub days: i64,
    /// Count the days from the end of the invoice's month ("60 days end of month").
    #[serde(default)]
    pub end_of_month: bool,
    /// The terms as documents state them (at most 300 characters); absent, a sentence made from
    /// the terms and the due date.
    #[schema(example = "Net 60 days end of month. Late payments bear statutory interest.")]
    pub text: Option<String>,
}

impl From<StoredPaymentTerms> for PaymentTerms {
    fn from(t: StoredPaymentTerms) -> Self {
        PaymentTerms {
            days: i64::from(t.days),
            end_of_month: t.end_of_month,
            text: t.text,
        }
    }
}

/// Checks payment terms; the stored form, or errors under `field.days` and `field.text`.
pub(crate) fn check_payment_terms(
    field: &str,
    terms: Option<&PaymentTerms>,
    v: &mut Validation,
) -> Option<StoredPaymentTerms> {
    let terms = terms?;
    let days = v.check(
        &format!("{field}.days"),
        "invalid",
        u16::try_from(terms.days)
            .ok()
            .filter(|d| *d <= PAYMENT_TERMS_MAX_DAYS)
            .ok_or_else(|| format!("must be between 0 and {PAYMENT_TERMS_MAX_DAYS} days")),
    );
    let text = v.opt_text(&format!("{field}.text"), terms.text.as_deref(), 300);
    days.map(|days| StoredPaymentTerms {
        days,
        end_of_month: terms.end_of_month,
        text,
    })
}

/// Checks a VAT identifier (country prefix and number); the normalised form, or an error
/// under `field`.
pub(crate) fn check_vat_id(field: &str, value: Option<&str>, v: &mut Validation) -> Option<String> {
    let value = value?;
    v.check(field, "invalid", VatId::parse(value))
        .map(|vat| vat.as_str().to_owned())
}

/// Checks a bank account; the normalised IBAN and BIC, errors under `field.iban` and
/// `field.bic`.
pub(crate) fn check_bank_account(
    field: &str,
    account: Option<&BankAccount>,
    v: &mut Validation,
) -> (Option<String>, Option<String>) {
    let Some(account) = account else {
        return (None, None);
    };
    let iban = v
        .check(
            &format!("{field}.iban"),
            "invalid",
            Iban::parse(&account.iban),
        )
        .map(|i| i.as_str().to_owned());
    let bic = account.bic.as_deref().and_then(|b| {
        v.check(&format!("{field}.bic"), "invalid", Bic::parse(b))
            .map(|b| b.as_str().to_owned())
    });
    (iban, bic)
}

/// Checks an e-mail address's shape; the trimmed address, or an error under `field`.
pub(crate) fn check_email(field: &str, value: Option<&str>, v: &mut Validation) -> Option<String> {
    let value = value?;
    v.check(field, "invalid", SchemeId::parse(Scheme::EMAIL, value))
        .map(|e| e.value().to_owned())
}

/// Checks a National Provider Identifier; a failed check digit is code `check_digit`, any other
/// fault `invalid`, under `field`.
pub(crate) fn check_npi(
    field: &str,
    value: Option<&str>,
    v: &mut Validation,
) -> Option<carebill_domain::claim_codes::Npi> {
    match carebill_domain::claim_codes::Npi::parse(value?) {
        Ok(npi) => Some(npi),
        Err(e @ carebill_domain::identifiers::IdentifierError::CheckDigit { .. }) => {
            v.add(field, "check_digit", e.to_string());
            None
        }
        Err(e) => {
            v.add(field, "invalid", e.to_string());
            None
        }
    }
}

/// Checks a list of claim codes under `field` (`field.{i}` for each): at most `max`
/// (`too_many`), each parsed by `parse` (`invalid`), none twice (`duplicate`, naming `what`);
/// gives the codes as `parse` writes them, in order.
pub(crate) fn code_list<T, E: std::fmt::Display>(
    field: &str,
    values: &[String],
    max: usize,
    what: &str,
    parse: impl Fn(&str) -> Result<T, E>,
    written: impl Fn(&T) -> &str,
    v: &mut Validation,
) -> Vec<String> {
    if values.len() > max {
        v.add(field, "too_many", format!("at most {max} {what}s"));
    }
    let mut codes: Vec<String> = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        let at = format!("{field}.{i}");
        if let Some(code) = v.check(&at, "invalid", parse(value)) {
            let code = written(&code).to_owned();
            if codes.contains(&code) {
                v.add(at, "duplicate", format!("each {what} once"));
            } else {
                codes.push(code);
            }
        }
    }
    codes
}

/// What claims name a location by, as sent.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationClaimsInput {
    /// The billing provider's NPI (ten digits, the last a check digit).
    #[schema(example = "1234567893")]
    pub npi: Option<String>,
    /// The billing provider's taxonomy code.
    #[schema(example = "282N00000X")]
    pub taxonomy: Option<String>,
    /// Employer identification number (nine digits, a dash allowed).
    #[schema(example = "12-3456789")]
    pub ein: Option<String>,
    /// CMS place of service of professional claims (two digits).
    #[schema(example = "22")]
    pub place_of_service: Option<String>,
    /// The first two digits of the type of bill per kind of episode.
    #[serde(default)]
    pub facility_types: FacilityTypesInput,
}

/// Type of bill (facility type and bill classification, two digits) per kind of episode.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FacilityTypesInput {
    /// Of inpatient episodes, e.g. `11`.
    pub inpatient: Option<String>,
    /// Of outpatient episodes, e.g. `13`.
    pub outpatient: Option<String>,
    /// Of long-term stays, e.g. `21`.
    pub long_term_stay: Option<String>,
    /// Of home care, e.g. `32`.
    pub home_care: Option<String>,
}

impl LocationClaimsInput {
    /// The checked claim facts, errors under `field`.
    pub(crate) fn check(
        &self,
        field: &str,
        v: &mut Validation,
    ) -> carebill_domain::events::LocationClaims {
        use carebill_domain::claim_codes::{Ein, PlaceOfService, Taxonomy};
        let npi = check_npi(&format!("{field}.npi"), self.npi.as_deref(), v);
        let taxonomy = self
            .taxonomy
            .as_deref()
            .and_then(|t| v.check(&format!("{field}.taxonomy"), "invalid", Taxonomy::parse(t)));
        let ein = self
            .ein
            .as_deref()
            .and_then(|e| v.check(&format!("{field}.ein"), "invalid", Ein::parse(e)));
        let place_of_service = self.place_of_service.as_deref().and_then(|p| {
            v.check(
                &format!("{field}.place_of_service"),
                "invalid",
                PlaceOfService::parse(p),
            )
        });
        let mut facility = |kind: &str, value: &Option<String>| {
            let value = value.as_deref()?.trim();
            let b = value.as_bytes();
            if b.len() == 2 && (b'1'..=b'8').contains(&b[0]) && (b'1'..=b'9').contains(&b[1]) {
                Some(value.to_owned())
            } else {
                v.add(
                    format!("{field}.facility_types.{kind}"),
                    "invalid",
                    "two digits: the facility type (1-8) and the bill classification (1-9)",
                );
                None
            }
        };
        let f = &self.facility_types;
        let facility_types = carebill_domain::events::FacilityTypes {
            inpatient: facility("inpatient", &f.inpatient),
            outpatient: facility("outpatient", &f.outpatient),
            long_term_stay: facility("long_term_stay", &f.long_term_stay),
            home_care: facility("home_care", &f.home_care),
        };
        carebill_domain::events::LocationClaims {
            npi: npi.map(|n| n.as_str().to_owned()),
            taxonomy: taxonomy.map(|t| t.as_str().to_owned()),
            ein: ein.map(|e| e.as_str().to_owned()),
            place_of_service: place_of_service.map(|p| p.as_str().to_owned()),
            facility_types,
        }
    }
}

/// A list filter's `identifier=system|value`, trimmed; a value without `|` is a 422 on
/// `identifier`.
pub(crate) fn identifier_filter(
    value: Option<&str>,
) -> Result<Option<(String, String)>, carebill_platform::Error> {
    let Some(ident) = value else { return Ok(None) };
    let (system, value) = ident.split_once('|').ok_or_else(|| {
        carebill_platform::Error::field("identifier", "invalid", "use system|value")
    })?;
    Ok(Some((system.trim().to_owned(), value.trim().to_owned())))
}

/// A JSON answer with its `ETag` header (versioned resources give the tag in the body too).
pub(crate) fn with_etag<T: Serialize>(
    etag: &str,
    status: actix_web::http::StatusCode,
    body: &T,
) -> actix_web::HttpResponse {
    actix_web::HttpResponse::build(status)
        .insert_header((actix_web::http::header::ETAG, etag.to_owned()))
        .json(body)
}
