//! Invoicing: building invoices from approved settlements and cancelling them with credit notes.
//! Pure; no I/O.
//!
//! An approved settlement becomes one invoice per paying party ([`plan_invoices`]): each party
//! is billed its share of every line that is not already on one of its active invoices, so a
//! re-approval after a correction, or a supplementary settlement, bills only what is new. A full
//! credit note ([`credit_note_for`]) mirrors its invoice line by line and cancels it to the cent.
//! Document numbers follow one gapless series per location, document kind and year
//! ([`document_number`]); the service allocates the sequence in the issuing transaction.
//!
//! Health care is exempt from VAT in the EU (Art. 132(1)(b) of Directive 2006/112/EC), so a line
//! is exempt (category `E`, reason `VATEX-EU-132-1B`) unless a tax rule of the location's country
//! says otherwise ([`TaxRule`], [`apply_taxes`]): cosmetic procedures, some materials, a care home's
//! gastro lines. Line amounts are net; VAT is added per category and rate.

use std::collections::HashSet;

use chrono::{DateTime, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::events::{PartyRef, SettlementApprovedV1};
use crate::ids::ConsumptionId;
use crate::money::{Currency, MinorUnits, Money, MoneyError};

/// Days between the issue date and the due date when neither the payer nor the location set
/// payment terms.
pub const PAYMENT_TERMS_DAYS: u16 = 30;

/// The longest payment term accepted, in days.
pub const PAYMENT_TERMS_MAX_DAYS: u16 = 365;

/// How long the recipient of an invoice has to pay: a number of days counted from the invoice
/// date or, with `end_of_month`, from the last day of the invoice's month ("60 days end of
/// month"), and the text the document shows (EN 16931 BT-20). Set per payer and per location;
/// an invoice to a payer follows the payer's terms, else the location's, else 30 days net.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PaymentTermsRef))]
pub struct PaymentTerms {
    /// Days to pay, 0 (on receipt) to 365.
    pub days: u16,
    /// Count from the end of the invoice's month instead of the invoice date.
    #[serde(default)]
    pub end_of_month: bool,
    /// The terms as the document states them; absent, a sentence made from the terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Default for PaymentTerms {
    fn default() -> Self {
        PaymentTerms {
            days: PAYMENT_TERMS_DAYS,
            end_of_month: false,
            text: None,
        }
    }
}

impl PaymentTerms {
    /// Checks the terms: at most [`PAYMENT_TERMS_MAX_DAYS`] days, a text that says something.
    pub fn check(&self) -> Result<(), String> {
        if self.days > PAYMENT_TERMS_MAX_DAYS {
            return Err(format!(
                "{} days is more than the {PAYMENT_TERMS_MAX_DAYS} days payment terms may give",
                self.days
            ));
        }
        if let Some(text) = &self.text
            && (text.trim().is_empty() || text.chars().count() > 300)
        {
            return Err("the terms text must say something, in at most 300 characters".to_owned());
        }
        Ok(())
    }

    /// The due date of an invoice dated `issued_on`.
    pub fn due_date(&self, issued_on: NaiveDate) -> NaiveDate {
        let from = if self.end_of_month {
            last_day_of_month(issued_on)
        } else {
            issued_on
        };
        from.checked_add_days(Days::new(u64::from(self.days)))
            .unwrap_or(NaiveDate::MAX)
    }

    /// The text the document shows (BT-20): the one given, else a sentence naming the terms and
    /// the due date.
    pub fn describe(&self, due: NaiveDate) -> String {
        if let Some(text) = &self.text {
            return text.trim().to_owned();
        }
        match (self.days, self.end_of_month) {
            (0, false) => format!("Payment due on receipt, by {due}."),
            (0, true) => format!("Payment due at the end of the invoice month, by {due}."),
            (days, false) => format!("Payment within {days} days of the invoice date, by {due}."),
            (days, true) => {
                format!("Payment within {days} days of the end of the invoice month, by {due}.")
            }
        }
    }
}

/// The last day of `day`'s month.
fn last_day_of_month(day: NaiveDate) -> NaiveDate {
    use chrono::Datelike as _;
    let (year, month) = if day.month() == 12 {
        (day.year() + 1, 1)
    } else {
        (day.year(), day.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|first| first.pred_opt())
        .unwrap_or(day)
}

/// CEF VATEX code of the exemption: hospital and medical care.
pub const TAX_EXEMPTION_REASON_CODE: &str = "VATEX-EU-132-1B";
/// The exemption reason as printed on the invoice.
pub const TAX_EXEMPTION_REASON: &str =
    "Exempt: hospital and medical care, Art. 132(1)(b) Directive 2006/112/EC";

crate::accounts::text_enum!(
    /// The kind of a numbered document; each has its own series.
    DocumentKind {
        /// An invoice.
        Invoice = "invoice",
        /// A credit note cancelling or reducing an invoice.
        CreditNote = "credit_note",
        /// A batch of invoices and credit notes (numbered when closed).
        Batch = "batch",
        /// A self-billed invoice made on a carer's behalf: one series per carer (seed 004).
        SelfBilledInvoice = "self_billed_invoice",
        /// A credit note of a self-billed invoice: one series per carer.
        SelfBilledCreditNote = "self_billed_credit_note",
        /// An e-billing: a set of payer invoices claimed in one X12 837 file (numbered when
        /// created, in the billing provider's series).
        EBilling = "e_billing",
    }
);

impl DocumentKind {
    /// The part of the number that names the kind: `INV`, `CN`, `BAT`, `SB`, `SBC` or `EB`.
    pub fn number_prefix(&self) -> &'static str {
        match self {
            DocumentKind::Invoice => "INV",
            DocumentKind::CreditNote => "CN",
            DocumentKind::Batch => "BAT",
            DocumentKind::SelfBilledInvoice => "SB",
            DocumentKind::SelfBilledCreditNote => "SBC",
            DocumentKind::EBilling => "EB",
        }
    }
}

crate::accounts::text_enum!(
    /// Where an invoice stands.
    InvoiceStatus {
        /// Issued and numbered; owed.
        Issued = "issued",
        /// Cancelled by a full credit note.
        Cancelled = "cancelled",
    }
);

crate::accounts::text_enum!(
    /// Where a batch of invoices and credit notes stands: `open` (documents added and removed),
    /// `closed` (numbered, totals frozen, no longer changes), `sent` (handed to collections).
    BatchStatus {
        /// Documents may be added and removed.
        Open = "open",
        /// Numbered; its documents and totals no longer change.
        Closed = "closed",
        /// Handed to collections.
        Sent = "sent",
    }
);

crate::accounts::text_enum!(
    /// Which documents a batch takes.
    BatchDocumentKind {
        /// An invoice.
        Invoice = "invoice",
        /// A credit note.
        CreditNote = "credit_note",
    }
);

/// The number of the `sequence`-th document of a series: `H1-INV-2026-000001`. The sequence is
/// zero-padded to six digits (and simply grows wider past 999999).
pub fn document_number(
    location_code: &str,
    kind: DocumentKind,
    year: i32,
    sequence: i64,
) -> String {
    format!(
        "{location_code}-{}-{year}-{sequence:06}",
        kind.number_prefix()
    )
}

/// The issue date of a document issued at `at` by a location in `time_zone`: the location's
/// calendar day, not UTC's.
pub fn issue_date(at: DateTime<Utc>, time_zone: &str) -> Result<NaiveDate, PlanError> {
    let tz = crate::accounts::parse_time_zone(time_zone)
        .map_err(|_| PlanError::TimeZone(time_zone.to_owned()))?;
    Ok(at.with_timezone(&tz).date_naive())
}

/// One line of an invoice or credit note: a service, its whole amount, and the part billed to
/// the document's recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentLine {
    /// The consumption billed.
    pub consumption_id: ConsumptionId,
    /// Catalog code.
    pub code: String,
    /// Description.
    pub description: String,
    /// Service group.
    pub service_group: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Unit of measure.
    pub unit: String,
    /// When the service was performed.
    pub performed_at: DateTime<Utc>,
    /// Price of one unit.
    pub unit_price: Money,
    /// Amount of the whole service (every party's share).
    pub line_amount: Money,
    /// The part of it billed to this recipient, net of VAT.
    pub amount: Money,
    /// Its VAT.
    pub tax: LineTax,
    /// What the recipient's part is made of (covered, copay, deductible, coinsurance, ...), as
    /// the approved settlement explained it; the parts add up to `amount`. Empty for lines of
    /// approvals written before coordination of benefits, and on credit notes but the full
    /// mirror of an invoice.
    pub parts: Vec<crate::settlement::Part>,
    /// The coordination method the payer paid the line by (payers after the first).
    pub method: Option<crate::settlement::Coordination>,
    /// The kind of service, when the approval said.
    pub kind: Option<crate::accounts::ServiceKind>,
    /// Who performed it, when the approval said.
    pub performed_by: Option<String>,
    /// What an electronic claim needs of the line (diagnoses, modifiers, practitioners), when
    /// the approval said.
    pub claim: Option<crate::events::LineClaimFacts>,
}

/// A VAT category (UNCL 5305), as configured and stored: `S` standard or reduced rate, `Z` zero
/// rated, `E` exempt, `O` outside the scope of VAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TaxCategory {
    /// S: a standard or reduced rate above zero.
    #[serde(rename = "S")]
    Standard,
    /// Z: zero rated.
    #[serde(rename = "Z")]
    ZeroRated,
    /// E: exempt (with the exemption reason).
    #[serde(rename = "E")]
    Exempt,
    /// O: outside the scope of VAT (with the reason).
    #[serde(rename = "O")]
    OutsideScope,
}

impl TaxCategory {
    /// The UNCL 5305 code.
    pub fn code(&self) -> &'static str {
        match self {
            TaxCategory::Standard => "S",
            TaxCategory::ZeroRated => "Z",
            TaxCategory::Exempt => "E",
            TaxCategory::OutsideScope => "O",
        }
    }
}

impl std::str::FromStr for TaxCategory {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "S" => Ok(TaxCategory::Standard),
            "Z" => Ok(TaxCategory::ZeroRated),
            "E" => Ok(TaxCategory::Exempt),
            "O" => Ok(TaxCategory::OutsideScope),
            other => Err(format!("`{other}` is not a VAT category: S, Z, E or O")),
        }
    }
}

impl std::fmt::Display for TaxCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// The VAT of a line: its category, its rate in percent (zero but for `S`), and for `E` and
/// `O` the exemption reason (a VATEX code, a text, or both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineTax {
    /// The category.
    pub category: TaxCategory,
    /// The rate in percent (21 for 21 %); zero for Z, E and O.
    pub rate: Decimal,
    /// VATEX exemption reason code (E, O).
    pub exemption_reason_code: Option<String>,
    /// Exemption reason text (E, O).
    pub exemption_reason: Option<String>,
}

impl LineTax {
    /// Health care: exempt under Art. 132(1)(b) of Directive 2006/112/EC. What a line is when no
    /// tax rule of the location's country says otherwise.
    pub fn health_care() -> LineTax {
        LineTax {
            category: TaxCategory::Exempt,
            rate: Decimal::ZERO,
            exemption_reason_code: Some(TAX_EXEMPTION_REASON_CODE.to_owned()),
            exemption_reason: Some(TAX_EXEMPTION_REASON.to_owned()),
        }
    }

    /// Checks a configured treatment: S between 0 (excluded) and 100 %, Z, E and O at zero, E and
    /// O with a reason, S and Z without one.
    pub fn check(&self) -> Result<(), String> {
        let reason = self.exemption_reason_code.is_some() || self.exemption_reason.is_some();
        match self.category {
            TaxCategory::Standard
                if self.rate <= Decimal::ZERO || self.rate > Decimal::ONE_HUNDRED =>
            {
                Err(format!(
                    "a standard rate is above 0 and at most 100 %, not {}",
                    self.rate
                ))
            }
            TaxCategory::ZeroRated | TaxCategory::Exempt | TaxCategory::OutsideScope
                if !self.rate.is_zero() =>
            {
                Err(format!(
                    "category {} has no rate (0), not {}",
                    self.category, self.rate
                ))
            }
            TaxCategory::Exempt | TaxCategory::OutsideScope if !reason => Err(format!(
                "category {} needs an exemption reason code (VATEX) or text",
                self.category
            )),
            TaxCategory::Standard | TaxCategory::ZeroRated if reason => Err(format!(
                "category {} has no exemption reason",
                self.category
            )),
            _ => Ok(()),
        }
    }
}

/// A tax rule of a country: which lines it applies to (one catalog code, one service group, or
/// every line), from when to when, and their VAT. The most specific rule in force on the
/// document's date applies (code, then group, then the country's); without any, a line is health
/// care, exempt.
#[derive(Debug, Clone, PartialEq)]
pub struct TaxRule {
    /// Only this catalog code.
    pub catalog_code: Option<String>,
    /// Only this service group.
    pub service_group: Option<String>,
    /// First day in force.
    pub valid_from: NaiveDate,
    /// Last day in force.
    pub valid_to: Option<NaiveDate>,
    /// The VAT it gives.
    pub tax: LineTax,
}

impl TaxRule {
    /// How specific: a catalog code over a service group over the whole country.
    fn specificity(&self) -> u8 {
        match (&self.catalog_code, &self.service_group) {
            (Some(_), _) => 2,
            (None, Some(_)) => 1,
            (None, None) => 0,
        }
    }

    fn in_force(&self, day: NaiveDate) -> bool {
        self.valid_from <= day && self.valid_to.is_none_or(|to| day <= to)
    }

    fn applies_to(&self, line: &DocumentLine) -> bool {
        self.catalog_code.as_deref().is_none_or(|c| c == line.code)
            && self
                .service_group
                .as_deref()
                .is_none_or(|g| g == line.service_group)
    }

    /// Whether two rules of one country would both say something of the same lines on a day:
    /// the same code and group, and periods that meet.
    pub fn overlaps(&self, other: &TaxRule) -> bool {
        let meet = self.valid_from <= other.valid_to.unwrap_or(NaiveDate::MAX)
            && other.valid_from <= self.valid_to.unwrap_or(NaiveDate::MAX);
        self.catalog_code == other.catalog_code && self.service_group == other.service_group && meet
    }
}

/// The VAT of `line` on `day` under the country's `rules` (see [`TaxRule`]).
pub fn tax_for(rules: &[TaxRule], line: &DocumentLine, day: NaiveDate) -> LineTax {
    rules
        .iter()
        .filter(|r| r.in_force(day) && r.applies_to(line))
        .max_by_key(|r| r.specificity())
        .map_or_else(LineTax::health_care, |r| r.tax.clone())
}

/// The VAT of a document's lines: per category and rate, the net amounts summed and then taxed
/// once, rounded to the cent (EN 16931 BR-CO-17; the VAT breakdown of the document model does the
/// same).
pub fn vat_total(lines: &[DocumentLine], currency: Currency) -> Result<Money, PlanError> {
    let mut groups: Vec<(TaxCategory, Decimal, Money)> = Vec::new();
    for l in lines {
        match groups
            .iter_mut()
            .find(|(c, r, _)| *c == l.tax.category && *r == l.tax.rate)
        {
            Some((_, _, net)) => *net = net.checked_add(&l.amount)?,
            None => groups.push((l.tax.category, l.tax.rate, l.amount)),
        }
    }
    groups
        .iter()
        .try_fold(Money::zero(currency), |acc, (_, rate, net)| {
            let vat = Money::round(net.amount() * *rate / Decimal::ONE_HUNDRED, currency);
            acc.checked_add(&vat).map_err(PlanError::from)
        })
}

/// Gives each line of `plan` its VAT under the country's `rules` on `day`, and the plan its tax
/// total and its total due (net plus VAT).
pub fn apply_taxes(
    plan: &mut InvoicePlan,
    rules: &[TaxRule],
    day: NaiveDate,
) -> Result<(), PlanError> {
    let currency = plan.total.currency();
    for line in &mut plan.lines {
        line.tax = tax_for(rules, line, day);
    }
    let net = sum_lines(&plan.lines, currency)?;
    plan.tax_total = vat_total(&plan.lines, currency)?;
    plan.total = net.checked_add(&plan.tax_total)?;
    Ok(())
}

/// An invoice to issue: who is billed, for which lines, how much in all.
#[derive(Debug, Clone, PartialEq)]
pub struct InvoicePlan {
    /// Who is billed.
    pub recipient: PartyRef,
    /// The lines billed, in the settlement's order.
    pub lines: Vec<DocumentLine>,
    /// What the recipient pays: the lines' net amounts and their VAT; never zero.
    pub total: Money,
    /// VAT (zero while every line is exempt).
    pub tax_total: Money,
}

/// A credit note to issue against an invoice.
#[derive(Debug, Clone, PartialEq)]
pub struct CreditNotePlan {
    /// Who the cancelled invoice was for.
    pub recipient: PartyRef,
    /// The lines credited: net amounts, each with its invoice line's VAT.
    pub lines: Vec<DocumentLine>,
    /// What it credits: the lines' net amounts and their VAT.
    pub total: Money,
    /// The VAT it credits.
    pub tax_total: Money,
}

/// Why an approved settlement (or an invoice) cannot be turned into documents. Each one means
/// the producer broke the contract; nothing is issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// An amount is in another currency, too large, or sums overflow.
    #[error("amount: {0}")]
    Money(#[from] MoneyError),
    /// A line's amounts are not in the settlement's currency.
    #[error("line {0} is not in the settlement's currency")]
    Currency(ConsumptionId),
    /// A share names a party that is not among the settlement's parties.
    #[error("line {consumption}: share for unknown party {party}")]
    UnknownParty {
        /// The line.
        consumption: ConsumptionId,
        /// The party key.
        party: String,
    },
    /// A line has two shares for one party.
    #[error("line {consumption}: two shares for party {party}")]
    DuplicateShare {
        /// The line.
        consumption: ConsumptionId,
        /// The party key.
        party: String,
    },
    /// Two lines price the same consumption.
    #[error("consumption {0} appears on two lines")]
    DuplicateLine(ConsumptionId),
    /// What a party is billed adds up to less than zero (a deduction larger than the charges).
    #[error("party {0} would be billed a negative total")]
    NegativeTotal(String),
    /// The shares of a line do not add up to its amount.
    #[error("the shares of line {0} do not add up to its amount")]
    SharesDoNotAddUp(ConsumptionId),
    /// The same party is listed twice.
    #[error("party {0} is listed twice")]
    DuplicateParty(String),
    /// The location's time zone is not an IANA name.
    #[error("`{0}` is not an IANA time zone")]
    TimeZone(String),
    /// The lines do not add up to the settlement's or invoice's total.
    #[error("the lines do not add up to the total")]
    TotalMismatch,
}

fn minor(m: &Money, currency: Currency, line: ConsumptionId) -> Result<i64, PlanError> {
    if m.currency() != currency {
        return Err(PlanError::Currency(line));
    }
    Ok(m.to_minor()?.0)
}

/// Sums the billed amounts of `lines` in `currency`.
pub fn sum_lines(lines: &[DocumentLine], currency: Currency) -> Result<Money, PlanError> {
    lines.iter().try_fold(Money::zero(currency), |acc, l| {
        acc.checked_add(&l.amount).map_err(PlanError::from)
    })
}

/// The invoices an approved settlement gives: one per party (in the settlement's order, patient
/// last) with a non-zero amount to bill. A party is billed its share of each line where that
/// share is non-zero and `is_billed(consumption, party key)` is false (the pair is not on an
/// active invoice already).
///
/// The approval is checked first: one currency, one line per consumption, shares only for listed
/// parties and adding up to their line, lines adding up to the total. A line may be negative (a
/// deduction or a correction of a periodic bill, EN 16931 allows it) but what a party is billed
/// must not add up to less than zero.
pub fn plan_invoices(
    approval: &SettlementApprovedV1,
    is_billed: impl Fn(ConsumptionId, &str) -> bool,
) -> Result<Vec<InvoicePlan>, PlanError> {
    let currency = approval.currency;
    let keys: Vec<String> = approval.parties.iter().map(PartyRef::key).collect();
    let mut seen_keys = HashSet::new();
    for k in &keys {
        if !seen_keys.insert(k.as_str()) {
            return Err(PlanError::DuplicateParty(k.clone()));
        }
    }
    let mut seen_lines = HashSet::new();
    let mut lines_total: i64 = 0;
    for line in &approval.lines {
        let id = line.consumption_id;
        if !seen_lines.insert(id) {
            return Err(PlanError::DuplicateLine(id));
        }
        minor(&line.unit_price, currency, id)?;
        let amount = minor(&line.amount, currency, id)?;
        let mut parties = HashSet::new();
        let mut shares: i64 = 0;
        for s in &line.shares {
            if !seen_keys.contains(s.party.as_str()) {
                return Err(PlanError::UnknownParty {
                    consumption: id,
                    party: s.party.clone(),
                });
            }
            if !parties.insert(s.party.as_str()) {
                return Err(PlanError::DuplicateShare {
                    consumption: id,
                    party: s.party.clone(),
                });
            }
            shares = shares
                .checked_add(minor(&s.amount, currency, id)?)
                .ok_or(MoneyError::OutOfRange)?;
        }
        if shares != amount {
            return Err(PlanError::SharesDoNotAddUp(id));
        }
        lines_total = lines_total
            .checked_add(amount)
            .ok_or(MoneyError::OutOfRange)?;
    }
    if approval.total.currency() != currency || approval.total.to_minor()?.0 != lines_total {
        return Err(PlanError::TotalMismatch);
    }

    let mut plans = Vec::new();
    for (party, key) in approval.parties.iter().zip(&keys) {
        let mut lines = Vec::new();
        for line in &approval.lines {
            let Some(share) = line.shares.iter().find(|s| &s.party == key) else {
                continue;
            };
            if share.amount.amount().is_zero() || is_billed(line.consumption_id, key) {
                continue;
            }
            lines.push(DocumentLine {
                consumption_id: line.consumption_id,
                code: line.code.clone(),
                description: line.description.clone(),
                service_group: line.service_group.clone(),
                quantity: line.quantity,
                unit: line.unit.clone(),
                performed_at: line.performed_at,
                unit_price: line.unit_price,
                line_amount: line.amount,
                amount: share.amount,
                tax: LineTax::health_care(),
                parts: share.parts.clone(),
                method: share.method,
                kind: line.kind,
                performed_by: line.performed_by.clone(),
                claim: line.claim.clone(),
            });
        }
        if lines.is_empty() {
            continue;
        }
        let total = sum_lines(&lines, currency)?;
        if total.amount().is_zero() {
            continue;
        }
        if total.amount().is_sign_negative() {
            return Err(PlanError::NegativeTotal(key.clone()));
        }
        plans.push(InvoicePlan {
            recipient: party.clone(),
            lines,
            total,
            tax_total: Money::zero(currency),
        });
    }
    Ok(plans)
}

/// The full credit note of an invoice with these `lines` and `total`: the same lines and the
/// same total, so that invoice and credit note cancel to the cent. Refuses an invoice whose lines
/// do not add up to its total (it could not be cancelled exactly).
pub fn credit_note_for(
    recipient: &PartyRef,
    lines: &[DocumentLine],
    total: Money,
) -> Result<CreditNotePlan, PlanError> {
    if sum_lines(lines, total.currency())? != total {
        return Err(PlanError::TotalMismatch);
    }
    Ok(CreditNotePlan {
        recipient: recipient.clone(),
        lines: lines.to_vec(),
        total,
        tax_total: Money::zero(total.currency()),
    })
}

/// What a partial credit note credits of one invoice line.
#[derive(Debug, Clone, PartialEq)]
pub enum LineCredit {
    /// A quantity of the line: that part of what the line bills the recipient, rounded to the
    /// cent (the whole quantity credits everything the line still bills).
    Quantity(Decimal),
    /// An amount of what the line bills the recipient, in the invoice's currency.
    Amount(Decimal),
}

/// One line of a partial credit note as asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct CreditAsked {
    /// The consumption the invoice line bills.
    pub consumption_id: ConsumptionId,
    /// How much of it.
    pub credit: LineCredit,
}

/// A credit note to issue, line by line, with what each invoice line still bills after it.
#[derive(Debug, Clone, PartialEq)]
pub struct CreditPlan {
    /// The credit note.
    pub note: CreditNotePlan,
    /// For each line credited, what the invoice line still bills after it.
    pub remaining: Vec<(ConsumptionId, Money)>,
    /// What the invoice still bills after it.
    pub invoice_remaining: Money,
}

/// Why a partial credit note cannot be issued as asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CreditError {
    /// A partial credit note names no line.
    #[error("a partial credit note names at least one line")]
    NothingAsked,
    /// The invoice's total does not convert to minor units.
    #[error("invoice total: {0}")]
    Total(MoneyError),
    /// The credit note's amounts do not add up.
    #[error("credit note: {0}")]
    Plan(PlanError),
    /// The invoice has no line for the consumption.
    #[error("the invoice has no line for consumption {0}")]
    UnknownLine(ConsumptionId),
    /// The same line is asked for twice.
    #[error("line {0} is asked for twice")]
    DuplicateLine(ConsumptionId),
    /// Nothing to credit: a quantity or amount of zero or less, or one that rounds to zero.
    #[error("line {0}: the credit must be more than zero")]
    NotPositive(ConsumptionId),
    /// More than the line's quantity.
    #[error("line {consumption}: {asked} is more than the line's quantity {quantity}")]
    QuantityAboveLine {
        /// The line.
        consumption: ConsumptionId,
        /// Asked.
        asked: Decimal,
        /// The line's quantity.
        quantity: Decimal,
    },
    /// A line that bills a deduction (less than zero) cannot be credited in part.
    #[error("line {0} bills a deduction; only a full credit note reverses it")]
    Deduction(ConsumptionId),
    /// An amount in another currency, or with more decimals than the currency has.
    #[error("line {0}: {1}")]
    Money(ConsumptionId, MoneyError),
    /// More than what the line still bills.
    #[error("line {consumption}: crediting {asked} is more than the {left} it still bills")]
    ExceedsRemaining {
        /// The line.
        consumption: ConsumptionId,
        /// Asked (rounded).
        asked: Money,
        /// What the line still bills.
        left: Money,
    },
}

impl CreditError {
    /// Whether the request itself is wrong (422), as opposed to asking more than is left (409).
    pub fn is_conflict(&self) -> bool {
        matches!(self, CreditError::ExceedsRemaining { .. })
    }

    /// The line the error is about, if one.
    pub fn line(&self) -> Option<ConsumptionId> {
        match self {
            CreditError::NothingAsked | CreditError::Total(_) | CreditError::Plan(_) => None,
            CreditError::UnknownLine(c)
            | CreditError::DuplicateLine(c)
            | CreditError::NotPositive(c)
            | CreditError::Deduction(c)
            | CreditError::Money(c, _) => Some(*c),
            CreditError::QuantityAboveLine { consumption, .. }
            | CreditError::ExceedsRemaining { consumption, .. } => Some(*consumption),
        }
    }
}

/// The credit note for the rest of an invoice with these `lines`, of which `credited` (per
/// consumption) was credited already by partial credit notes: each line with what it still bills
/// (lines credited in full are left out). With nothing credited before, the same lines and total
/// as the invoice, so that invoice and credit note cancel to the cent. Refuses an invoice whose
/// lines do not add up to its total.
pub fn rest_credit_for(
    recipient: &PartyRef,
    lines: &[DocumentLine],
    total: Money,
    credited: &std::collections::HashMap<ConsumptionId, Money>,
) -> Result<CreditPlan, PlanError> {
    let currency = total.currency();
    if sum_lines(lines, currency)?.checked_add(&vat_total(lines, currency)?)? != total {
        return Err(PlanError::TotalMismatch);
    }
    let mut out = Vec::with_capacity(lines.len());
    let mut remaining = Vec::with_capacity(lines.len());
    for line in lines {
        let billed = line.amount.to_minor()?.0;
        let done = match credited.get(&line.consumption_id) {
            Some(c) => c.to_minor()?.0,
            None => 0,
        };
        let left = billed - done;
        if left == 0 && done != 0 {
            continue;
        }
        // A line credited whole mirrors the invoice's, explanation included; a rest is only an
        // amount.
        let whole = done == 0;
        out.push(DocumentLine {
            amount: money(left, currency),
            parts: if whole {
                line.parts.clone()
            } else {
                Vec::new()
            },
            method: if whole { line.method } else { None },
            ..line.clone()
        });
        remaining.push((line.consumption_id, Money::zero(currency)));
    }
    let tax_total = vat_total(&out, currency)?;
    let total = sum_lines(&out, currency)?.checked_add(&tax_total)?;
    Ok(CreditPlan {
        note: CreditNotePlan {
            recipient: recipient.clone(),
            lines: out,
            total,
            tax_total,
        },
        remaining,
        invoice_remaining: Money::zero(currency),
    })
}

/// A partial credit note of an invoice with these `lines`, of which `credited` (per
/// consumption) was credited already: the lines asked for, each credited by a quantity (its
/// part of what the line bills, rounded to the cent) or an amount, never more than the line
/// still bills. The invoice stays issued for what is left.
pub fn partial_credit_for(
    recipient: &PartyRef,
    lines: &[DocumentLine],
    total: Money,
    credited: &std::collections::HashMap<ConsumptionId, Money>,
    earlier_notes: Money,
    asked: &[CreditAsked],
) -> Result<CreditPlan, CreditError> {
    let currency = total.currency();
    let minor = |c: ConsumptionId, m: &Money| {
        m.to_minor()
            .map(|m| m.0)
            .map_err(|e| CreditError::Money(c, e))
    };
    if asked.is_empty() {
        return Err(CreditError::NothingAsked);
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(asked.len());
    let mut remaining = Vec::with_capacity(asked.len());
    for a in asked {
        let c = a.consumption_id;
        if !seen.insert(c) {
            return Err(CreditError::DuplicateLine(c));
        }
        let line = lines
            .iter()
            .find(|l| l.consumption_id == c)
            .ok_or(CreditError::UnknownLine(c))?;
        let billed = minor(c, &line.amount)?;
        if billed < 0 {
            return Err(CreditError::Deduction(c));
        }
        let done = match credited.get(&c) {
            Some(m) => minor(c, m)?,
            None => 0,
        };
        let left = billed - done;
        let (quantity, amount) = match &a.credit {
            LineCredit::Quantity(q) => {
                if *q <= Decimal::ZERO {
                    return Err(CreditError::NotPositive(c));
                }
                if *q > line.quantity {
                    return Err(CreditError::QuantityAboveLine {
                        consumption: c,
                        asked: *q,
                        quantity: line.quantity,
                    });
                }
                let amount = if *q == line.quantity {
                    left
                } else {
                    let part = Money::round(line.amount.amount() * *q / line.quantity, currency);
                    minor(c, &part)?
                };
                (*q, amount)
            }
            LineCredit::Amount(a) => {
                let exact = Money::new(*a, currency).map_err(|e| CreditError::Money(c, e))?;
                (line.quantity, minor(c, &exact)?)
            }
        };
        if amount <= 0 {
            return Err(CreditError::NotPositive(c));
        }
        if amount > left {
            return Err(CreditError::ExceedsRemaining {
                consumption: c,
                asked: money(amount, currency),
                left: money(left, currency),
            });
        }
        out.push(DocumentLine {
            quantity,
            amount: money(amount, currency),
            parts: Vec::new(),
            method: None,
            ..line.clone()
        });
        remaining.push((c, money(left - amount, currency)));
    }
    let tax_total = vat_total(&out, currency).map_err(CreditError::Plan)?;
    let note_total = sum_lines(&out, currency)
        .and_then(|net| net.checked_add(&tax_total).map_err(PlanError::from))
        .map_err(CreditError::Plan)?;
    let minor_of = |m: &Money| m.to_minor().map(|m| m.0).map_err(CreditError::Total);
    let invoice_remaining = minor_of(&total)? - minor_of(&earlier_notes)? - minor_of(&note_total)?;
    Ok(CreditPlan {
        note: CreditNotePlan {
            recipient: recipient.clone(),
            lines: out,
            total: note_total,
            tax_total,
        },
        remaining,
        invoice_remaining: money(invoice_remaining, currency),
    })
}

/// A stored amount in `currency` (for readers of minor units).
pub fn money(minor: i64, currency: Currency) -> Money {
    Money::from_minor(MinorUnits(minor), currency)
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use chrono::TimeZone as _;
    use proptest::prelude::*;

    use super::*;
    use crate::accounts::{EpisodeKind, PayerKind};
    use crate::events::{
        CoverageRef, EpisodeRef, LocationRef, PatientRef, SettledLine, SettledShare,
    };
    use crate::ids::{CoverageId, EpisodeId, LocationId, PatientId, PayerId, SettlementId};
    use crate::settlement::SettlementKind;

    fn eur(minor: i64) -> Money {
        money(minor, Currency::EUR)
    }

    fn payer(code: &str) -> PartyRef {
        PartyRef::payer(&CoverageRef {
            id: CoverageId::new(),
            payer_id: PayerId::new(),
            payer_code: code.to_owned(),
            payer_kind: PayerKind::Insurer,
            policy_number: "P-1".to_owned(),
            plan_code: None,
            priority: 1,
            valid_from: None,
            valid_to: None,
            payer_billing: None,
        })
    }

    fn approval(parties: Vec<PartyRef>, lines: Vec<(i64, Vec<i64>)>) -> SettlementApprovedV1 {
        let patient = PatientId::new();
        let keys: Vec<String> = parties.iter().map(PartyRef::key).collect();
        let lines: Vec<SettledLine> = lines
            .into_iter()
            .enumerate()
            .map(|(i, (amount, shares))| SettledLine {
                consumption_id: ConsumptionId::new(),
                code: format!("C{i}"),
                description: format!("service {i}"),
                service_group: "LAB".to_owned(),
                quantity: Decimal::ONE,
                unit: "unit".to_owned(),
                performed_at: Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap(),
                unit_price: eur(amount),
                amount: eur(amount),
                shares: shares
                    .into_iter()
                    .zip(&keys)
                    .filter(|(s, _)| *s != 0)
                    .map(|(s, k)| SettledShare {
                        party: k.clone(),
                        amount: eur(s),
                        parts: Vec::new(),
                        method: None,
                    })
                    .collect(),
                kind: None,
                performed_by: None,
                claim: None,
            })
            .collect();
        let total = lines.iter().map(|l| l.amount.to_minor().unwrap().0).sum();
        SettlementApprovedV1 {
            settlement_id: SettlementId::new(),
            number: "EP-1-1".to_owned(),
            kind: SettlementKind::Regular,
            parent_settlement_id: None,
            version: 1,
            episode: EpisodeRef {
                id: EpisodeId::new(),
                number: "EP-1".to_owned(),
                kind: EpisodeKind::Outpatient,
                location: LocationRef {
                    id: LocationId::new(),
                    code: "H1".to_owned(),
                    name: "Hospital One".to_owned(),
                    time_zone: "Europe/Madrid".to_owned(),
                    tax_id: Some("ESB00000000".to_owned()),
                    billing: None,
                },
                patient: PatientRef {
                    id: patient,
                    beneficiary_kind: "general".to_owned(),
                    birth_date: None,
                    flags: vec![],
                    sex: None,
                    billing: None,
                },
                attending_practitioner: None,
            },
            currency: Currency::EUR,
            parties,
            lines,
            total: eur(total),
            approved_by: "auditor".to_owned(),
            approved_at: Utc::now(),
        }
    }

    #[test]
    fn numbers_are_location_kind_year_and_six_digits() {
        assert_eq!(
            document_number("H1", DocumentKind::Invoice, 2026, 1),
            "H1-INV-2026-000001"
        );
        assert_eq!(
            document_number("H1", DocumentKind::CreditNote, 2027, 123_456),
            "H1-CN-2027-123456"
        );
    }

    #[test]
    fn the_issue_date_is_the_locations_day_and_payment_is_due_thirty_days_later() {
        // 23:30 UTC on 31 December is already 1 January in Madrid.
        let at = Utc.with_ymd_and_hms(2026, 12, 31, 23, 30, 0).unwrap();
        let day = issue_date(at, "Europe/Madrid").unwrap();
        assert_eq!(day, NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        assert_eq!(
            issue_date(at, "America/New_York").unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()
        );
        assert_eq!(
            PaymentTerms::default().due_date(day),
            NaiveDate::from_ymd_opt(2027, 1, 31).unwrap()
        );
        assert!(matches!(
            issue_date(at, "Mars/Olympus"),
            Err(PlanError::TimeZone(_))
        ));
    }

    #[test]
    fn payment_terms_count_from_the_invoice_date_or_the_end_of_its_month() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let terms = |days, end_of_month| PaymentTerms {
            days,
            end_of_month,
            text: None,
        };
        assert_eq!(terms(60, false).due_date(d(2026, 12, 6)), d(2027, 2, 4));
        // 60 days end of month: from 31 December.
        assert_eq!(terms(60, true).due_date(d(2026, 12, 6)), d(2027, 3, 1));
        // February's end in a leap year and in another.
        assert_eq!(terms(0, true).due_date(d(2028, 2, 10)), d(2028, 2, 29));
        assert_eq!(terms(30, true).due_date(d(2027, 2, 10)), d(2027, 3, 30));
        assert_eq!(terms(0, false).due_date(d(2027, 2, 10)), d(2027, 2, 10));
        assert_eq!(
            terms(60, true).describe(d(2027, 3, 1)),
            "Payment within 60 days of the end of the invoice month, by 2027-03-01."
        );
        assert_eq!(
            terms(0, false).describe(d(2027, 2, 10)),
            "Payment due on receipt, by 2027-02-10."
        );
        let worded = PaymentTerms {
            text: Some("  Net 60 days; 2 % late interest per month. ".to_owned()),
            ..terms(60, false)
        };
        assert_eq!(
            worded.describe(d(2027, 2, 4)),
            "Net 60 days; 2 % late interest per month."
        );
        assert!(worded.check().is_ok());
        assert!(terms(366, false).check().unwrap_err().contains("366 days"));
        let blank = PaymentTerms {
            text: Some("  ".to_owned()),
            ..terms(30, false)
        };
        assert!(blank.check().is_err());
    }

    #[test]
    fn one_invoice_per_party_with_its_shares_and_none_for_a_party_owing_nothing() {
        let insurer = payer("SANITAS");
        let other = payer("ADESLAS");
        let a = approval(
            vec![
                insurer.clone(),
                other.clone(),
                PartyRef::patient(PatientId::new()),
            ],
            vec![(10_000, vec![8_000, 0, 2_000]), (1_050, vec![1_000, 0, 50])],
        );
        let plans = plan_invoices(&a, |_, _| false).unwrap();
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[0].recipient, insurer);
        assert_eq!(plans[0].total, eur(9_000));
        assert_eq!(plans[1].total, eur(2_050));
        assert_eq!(plans[1].lines[1].amount, eur(50));
        assert_eq!(plans[1].lines[1].line_amount, eur(1_050));
        assert_eq!(plans[0].tax_total, eur(0));
        assert_eq!(plans[0].lines[0].tax, LineTax::health_care());
    }

    #[test]
    fn lines_already_billed_to_a_party_are_not_billed_again() {
        let insurer = payer("SANITAS");
        let patient = PartyRef::patient(PatientId::new());
        let a = approval(
            vec![insurer.clone(), patient.clone()],
            vec![(10_000, vec![8_000, 2_000]), (500, vec![0, 500])],
        );
        let first = a.lines[0].consumption_id;
        let plans = plan_invoices(&a, |c, p| c == first && p == insurer.key()).unwrap();
        assert_eq!(plans.len(), 1, "the insurer has nothing left to bill");
        assert_eq!(plans[0].recipient, patient);
        assert_eq!(plans[0].total, eur(2_500));
        assert!(plan_invoices(&a, |_, _| true).unwrap().is_empty());
    }

    #[test]
    fn deductions_are_lines_of_an_invoice_but_a_negative_total_is_refused() {
        // A periodic bill: the insurer is billed care 1,000.00 less the resident's part 300.00.
        let insurer = payer("SANITAS");
        let patient = PartyRef::patient(PatientId::new());
        let a = approval(
            vec![insurer.clone(), patient.clone()],
            vec![
                (100_000, vec![100_000, 0]),
                (-30_000, vec![-30_000, 0]),
                (30_000, vec![0, 30_000]),
            ],
        );
        let plans = plan_invoices(&a, |_, _| false).unwrap();
        assert_eq!(plans[0].recipient, insurer);
        assert_eq!(plans[0].lines.len(), 2);
        assert_eq!(plans[0].lines[1].amount, eur(-30_000));
        assert_eq!(plans[0].total, eur(70_000));
        assert_eq!(plans[1].total, eur(30_000));
        // Once the charge is billed, the deduction alone would bill the insurer -300.00.
        let charge = a.lines[0].consumption_id;
        assert_eq!(
            plan_invoices(&a, |c, _| c == charge),
            Err(PlanError::NegativeTotal(insurer.key()))
        );
    }

    #[test]
    fn broken_approvals_are_refused() {
        let insurer = payer("SANITAS");
        let patient = PartyRef::patient(PatientId::new());
        let mut a = approval(
            vec![insurer.clone(), patient.clone()],
            vec![(10_000, vec![8_000, 2_000])],
        );
        a.lines[0].shares[1].amount = eur(1_999);
        assert!(matches!(
            plan_invoices(&a, |_, _| false),
            Err(PlanError::SharesDoNotAddUp(_))
        ));
        a.lines[0].shares[1].party = "payer:nobody".to_owned();
        assert!(matches!(
            plan_invoices(&a, |_, _| false),
            Err(PlanError::UnknownParty { .. })
        ));
        let mut b = approval(vec![insurer.clone()], vec![(100, vec![100])]);
        b.lines.push(b.lines[0].clone());
        assert!(matches!(
            plan_invoices(&b, |_, _| false),
            Err(PlanError::DuplicateLine(_))
        ));
        let mut t = approval(vec![insurer.clone()], vec![(100, vec![100])]);
        t.total = eur(101);
        assert_eq!(
            plan_invoices(&t, |_, _| false),
            Err(PlanError::TotalMismatch)
        );
        let mut c = approval(vec![insurer], vec![(100, vec![100])]);
        c.lines[0].amount = money(100, Currency::parse("USD").unwrap());
        assert!(matches!(
            plan_invoices(&c, |_, _| false),
            Err(PlanError::Currency(_))
        ));
    }

    #[test]
    fn a_credit_note_refuses_an_invoice_that_does_not_add_up() {
        let a = approval(vec![payer("X")], vec![(100, vec![100])]);
        let plan = plan_invoices(&a, |_, _| false).unwrap().remove(0);
        assert_eq!(
            credit_note_for(&plan.recipient, &plan.lines, eur(99)),
            Err(PlanError::TotalMismatch)
        );
    }

    /// Lines as (amount, shares per party), the shares cut from the amount at random points
    /// (so some are zero), for 1 to 3 payers and the patient.
    fn arb_approval() -> impl Strategy<Value = SettlementApprovedV1> {
        (1usize..=3).prop_flat_map(|payers| {
            let parties = payers + 1;
            prop::collection::vec(
                (0i64..2_000_000, prop::collection::vec(0u32..=100, parties)),
                0..8,
            )
            .prop_map(move |raw| {
                let mut ps: Vec<PartyRef> = (0..payers).map(|i| payer(&format!("P{i}"))).collect();
                ps.push(PartyRef::patient(PatientId::new()));
                let lines = raw
                    .into_iter()
                    .map(|(amount, weights)| {
                        let w: Vec<Decimal> = weights.into_iter().map(Decimal::from).collect();
                        let shares = crate::money::allocate(MinorUnits(amount), &w)
                            .into_iter()
                            .map(|m| m.0)
                            .collect();
                        (amount, shares)
                    })
                    .collect();
                approval(ps, lines)
            })
        })
    }

    fn non_zero_shares(a: &SettlementApprovedV1) -> HashMap<(ConsumptionId, String), Money> {
        a.lines
            .iter()
            .flat_map(|l| {
                l.shares
                    .iter()
                    .filter(|s| !s.amount.amount().is_zero())
                    .map(move |s| ((l.consumption_id, s.party.clone()), s.amount))
            })
            .collect()
    }

    proptest! {
        #[test]
        fn invoice_lines_add_up_to_the_total_and_no_pair_is_billed_twice(
            a in arb_approval(),
            billed_mask in prop::collection::vec(any::<bool>(), 32),
        ) {
            let shares: Vec<(ConsumptionId, String)> = non_zero_shares(&a).into_keys().collect();
            let billed: HashSet<(ConsumptionId, String)> = shares
                .iter()
                .zip(billed_mask.iter().cycle())
                .filter(|(_, b)| **b)
                .map(|(p, _)| p.clone())
                .collect();
            let plans = plan_invoices(&a, |c, p| billed.contains(&(c, p.to_owned()))).unwrap();
            let mut pairs = HashSet::new();
            for plan in &plans {
                prop_assert!(!plan.total.amount().is_zero());
                prop_assert_eq!(sum_lines(&plan.lines, a.currency).unwrap(), plan.total);
                for l in &plan.lines {
                    prop_assert!(pairs.insert((l.consumption_id, plan.recipient.key())));
                    prop_assert!(!billed.contains(&(l.consumption_id, plan.recipient.key())));
                }
            }
            // What is billed now plus what was billed before is every non-zero share.
            let expected: HashSet<_> = shares.into_iter().filter(|p| !billed.contains(p)).collect();
            prop_assert_eq!(pairs, expected);
        }

        #[test]
        fn a_fresh_approval_bills_every_non_zero_share_exactly_once(a in arb_approval()) {
            let plans = plan_invoices(&a, |_, _| false).unwrap();
            let mut billed = HashMap::new();
            for plan in &plans {
                for l in &plan.lines {
                    let prev = billed.insert((l.consumption_id, plan.recipient.key()), l.amount);
                    prop_assert!(prev.is_none());
                }
            }
            prop_assert_eq!(&billed, &non_zero_shares(&a));
            let all = plans
                .iter()
                .try_fold(Money::zero(a.currency), |acc, p| acc.checked_add(&p.total))
                .unwrap();
            prop_assert_eq!(all, a.total);
        }

        #[test]
        fn a_credit_note_cancels_its_invoice_to_the_cent(a in arb_approval()) {
            for plan in plan_invoices(&a, |_, _| false).unwrap() {
                let cn = credit_note_for(&plan.recipient, &plan.lines, plan.total).unwrap();
                prop_assert_eq!(&cn.lines, &plan.lines);
                prop_assert_eq!(cn.total, plan.total);
                prop_assert_eq!(&cn.recipient, &plan.recipient);
                prop_assert_eq!(sum_lines(&cn.lines, a.currency).unwrap(), cn.total);
                let net = plan.total.to_minor().unwrap().0 - cn.total.to_minor().unwrap().0;
                prop_assert_eq!(net, 0);
            }
        }
    }
}
