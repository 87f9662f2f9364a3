//! The one error of every layer below HTTP, and the vocabulary of stable error codes.
//!
//! An [`Error`] carries an [`ErrorCode`] (which fixes its HTTP status and title), a detail for
//! the caller, field-level problems for validation failures, and — for failures that are not
//! the caller's fault — its cause chain. Store functions, service functions, event consumers
//! and the outbox all return it; nothing here knows HTTP. The edge ([`crate::http`]) renders it
//! as RFC 9457 `application/problem+json` and logs the cause of a 5xx once; a consumer that
//! gives up on an event parks it with the whole chain ([`Error`]'s `Display`).
//!
//! Database errors map by kind: not found → 404, unique violation → 409, lost connection → 503,
//! serialization failure or deadlock → 409 `concurrent_update`, the rest → 500.
//!
//! The error reference in `docs/reference/errors.md` is generated from [`ErrorCode::ALL`]
//! (`carebill errors`); a test keeps it current.

use std::sync::Arc;

use carebill_domain::FieldError;
use serde::Serialize;

/// What kind of failure an error is; the HTTP status follows from the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request cannot be read (400, 413, 415).
    BadRequest,
    /// The request is readable but its values are not acceptable (422).
    Invalid,
    /// No or bad credentials (401).
    Unauthenticated,
    /// Authenticated, not allowed (403).
    Forbidden,
    /// Nothing there in the caller's scope (404).
    NotFound,
    /// The method does not apply to the resource (405).
    NotAllowed,
    /// The request conflicts with the current state (409).
    Conflict,
    /// A precondition (`If-Match`) is missing or failed (412, 428).
    Precondition,
    /// A dependency (database, broker, identity provider) is unavailable (503).
    Unavailable,
    /// A bug or an unexpected failure (500).
    Internal,
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = ($code:literal, $status:literal, $title:literal, $meaning:literal), )*) => {
        /// Every stable error code Carebill answers with. The code, its status and its title
        /// never change once released; new codes may be added.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in the order of the reference.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The wire form (`code` of a problem).
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The HTTP status.
            pub const fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// The problem's title.
            pub const fn title(self) -> &'static str {
                match self { $(ErrorCode::$variant => $title,)* }
            }

            /// What the code means and what the caller can do, for the reference.
            pub const fn meaning(self) -> &'static str {
                match self { $(ErrorCode::$variant => $meaning,)* }
            }
        }
    };
}

error_codes! {
    /// Field-level validation failed.
    ValidationFailed = ("validation_failed", 422, "Validation failed", "One or more values are not acceptable; `errors` names each field, its code and why."),
    /// The query string cannot be read.
    BadQuery = ("bad_query", 400, "Bad request", "The query string has an unknown parameter or a value of the wrong type, or the URL contains a NUL byte."),
    /// The body is not JSON.
    MalformedJson = ("malformed_json", 400, "Bad request", "The body is empty, is not JSON, or has trailing data."),
    /// The body could not be read.
    BadBody = ("bad_body", 400, "Bad request", "The connection broke while the body was read; send it again."),
    /// A malformed `Idempotency-Key`.
    BadIdempotencyKey = ("bad_idempotency_key", 400, "Bad request", "`Idempotency-Key` must be 1 to 255 visible ASCII characters."),
    /// Not JSON.
    UnsupportedMediaType = ("unsupported_media_type", 415, "Unsupported media type", "The body must be sent as `Content-Type: application/json`."),
    /// Too big.
    PayloadTooLarge = ("payload_too_large", 413, "Payload too large", "The body or the batch is larger than the endpoint accepts; split it."),
    /// No or bad credentials.
    Unauthorized = ("unauthorized", 401, "Unauthorized", "No bearer token, or one that is malformed, expired, for another audience or issuer, or not signed by a trusted key."),
    /// Authenticated, not allowed.
    Forbidden = ("forbidden", 403, "Forbidden", "The token's roles or location scope do not allow this operation, whatever the body."),
    /// Nothing there.
    NotFound = ("not_found", 404, "Not found", "No such resource in the caller's scope (records of other locations or payers answer the same)."),
    /// No representation the caller accepts.
    NotAcceptable = ("not_acceptable", 406, "Not acceptable", "The resource has no representation in the media types of `Accept`; the detail lists those it has."),
    /// Wrong method.
    MethodNotAllowed = ("method_not_allowed", 405, "Method not allowed", "The resource does not serve this method; `Allow` lists those it does."),
    /// A duplicate.
    AlreadyExists = ("already_exists", 409, "Conflict", "A record with these identifying values (code, number, period) already exists."),
    /// A concurrent change.
    ConcurrentUpdate = ("concurrent_update", 409, "Conflict", "A concurrent change interfered and nothing was changed; read again and retry."),
    /// A key reused for another request.
    IdempotencyKeyReused = ("idempotency_key_reused", 409, "Conflict", "This `Idempotency-Key` was already used for a different request (method, path or body)."),
    /// A key still in flight.
    IdempotencyKeyInUse = ("idempotency_key_in_use", 409, "Conflict", "A request with this `Idempotency-Key` is still in progress; retry shortly."),
    /// `If-Match` missing.
    PreconditionRequired = ("precondition_required", 428, "Precondition required", "The change needs `If-Match` with the resource's current `ETag`."),
    /// `If-Match` stale.
    PreconditionFailed = ("precondition_failed", 412, "Precondition failed", "The resource changed since the `ETag` sent in `If-Match`; read it again."),
    /// A dependency is down.
    Unavailable = ("unavailable", 503, "Service unavailable", "The database, the broker or the identity provider is unavailable; retry later."),
    /// A bug.
    Internal = ("internal", 500, "Internal error", "An unexpected failure; its cause is logged with the request id, never shown."),
    /// An incoming event breaks its contract.
    InvalidEvent = ("invalid_event", 422, "Invalid event", "An event a consumer received does not carry what its schema promises; it is retried, then parked as a dead letter."),
    /// Identifier taken by another record.
    IdentifierTaken = ("identifier_taken", 409, "Conflict", "The identifier (system and value) already belongs to another patient, or to another practitioner."),
    /// An external id reused with other content.
    ExternalIdReused = ("external_id_reused", 409, "Conflict", "The source system's external id was already recorded with different content."),
    /// The location is inactive.
    LocationInactive = ("location_inactive", 409, "Conflict", "The record's location is inactive: its records no longer change."),
    /// The episode does not take consumptions.
    EpisodeNotOpen = ("episode_not_open", 409, "Conflict", "The episode is closed or cancelled; consumptions need an open episode."),
    /// Voided already.
    AlreadyVoided = ("already_voided", 409, "Conflict", "The consumption is already voided."),
    /// Cancelled already.
    AlreadyCancelled = ("already_cancelled", 409, "Conflict", "The record is already cancelled."),
    /// A cancelled record.
    Cancelled = ("cancelled", 409, "Conflict", "A cancelled record cannot change."),
    /// A workflow step that does not apply.
    InvalidTransition = ("invalid_transition", 409, "Conflict", "The settlement or document is not in a status from which this step is allowed."),
    /// Not editable in its status.
    NotEditable = ("not_editable", 409, "Conflict", "The record is not editable in its current status."),
    /// Not open.
    NotOpen = ("not_open", 409, "Conflict", "The record is not open for this change."),
    /// Already invoiced.
    AlreadyInvoiced = ("already_invoiced", 409, "Conflict", "Invoicing has issued this version; credit its invoices (with reissue) instead."),
    /// Already credited.
    AlreadyCredited = ("already_credited", 409, "Conflict", "The invoice is already cancelled by a credit note."),
    /// A partial credit above what an invoice line still bills.
    CreditExceedsRemaining = ("credit_exceeds_remaining", 409, "Conflict", "A partial credit note asks more of an invoice line than it still bills after earlier credit notes; nothing was credited."),
    /// Only invoices to payers for a patient's care are claimed electronically.
    NotClaimable = ("not_claimable", 422, "Not claimable", "Only an invoice to a payer for a patient's care is claimed electronically; invoices to patients and agency invoices are not."),
    /// Nothing matched an e-billing's selection.
    NoClaimableEntries = ("no_claimable_entries", 422, "Nothing to claim", "No invoice matched the e-billing's selection: nothing issued to the payer in the filter, or every match is claimed in another e-billing already."),
    /// A sent or cancelled e-billing no longer changes.
    EBillingClosed = ("e_billing_closed", 409, "Conflict", "The e-billing was sent (its file taken) or cancelled: it no longer changes."),
    /// An e-billing with gaps never gives a file.
    EBillingIncomplete = ("e_billing_incomplete", 409, "Conflict", "Some claim of the e-billing has gaps (or its invoice was cancelled): no file is written until every claim is whole. Check the e-billing again and see its missing information."),
    /// The 276 asks about claims that were sent.
    EBillingNotSent = ("e_billing_not_sent", 409, "Conflict", "The e-billing's 837 file was not taken yet: the status request (276) asks about claims that were sent."),
    /// What was sent is not an X12 interchange.
    NotX12 = ("not_x12", 422, "Not X12", "The file is not an X12 interchange: it must begin with a 106-character ISA segment."),
    /// An X12 envelope whose counts or control numbers disagree.
    X12EnvelopeInvalid = ("x12_envelope_invalid", 422, "X12 envelope invalid", "The interchange's envelope does not hold: a segment count (SE01), a group or transaction count (GE01, IEA01) or a control number (SE02, GE02, IEA02) disagrees; the segment and its position are named. Nothing was imported."),
    /// An X12 file of a kind this endpoint does not read.
    X12Unsupported = ("x12_unsupported", 422, "X12 file not supported", "The interchange holds no transaction this endpoint reads (999, 277CA 005010X214, 277 005010X212 for e-billing responses; 835 005010X221A1 for remittances). Nothing was imported."),
    /// An X12 transaction whose content does not read.
    X12Invalid = ("x12_invalid", 422, "X12 content invalid", "A segment of the transaction is out of place, incomplete or unreadable; the segment and its position are named. Nothing was imported."),
    /// An 835 whose amounts do not add up.
    RemittanceDoesNotBalance = ("remittance_does_not_balance", 422, "Remittance does not balance", "An amount of the 835 disagrees with the amounts it sums: a service line's paid (SVC03 = SVC02 − its adjustments), a claim's paid (CLP04 = CLP03 − its adjustments and its lines'), or the payment (BPR02 = Σ CLP04 − Σ PLB); the segment, its position and both amounts are named. Nothing was posted."),
    /// An 835 from a payer no claim was sent to, paying no invoice Carebill knows.
    UnknownPayer = ("unknown_payer", 422, "Unknown payer", "The 835's payer id (REF*2U, else TRN03) is not one claims were sent to, and none of its claims names an invoice Carebill issued to a payer. Nothing was posted."),
    /// A batch that is closed no longer changes.
    BatchClosed = ("batch_closed", 409, "Conflict", "The batch is closed (or sent): its documents and totals no longer change."),
    /// A batch without documents cannot close.
    BatchEmpty = ("batch_empty", 409, "Conflict", "The batch has no documents; add some (or fill it by its rule) before closing it."),
    /// Only a closed batch can be sent or exported.
    BatchNotClosed = ("batch_not_closed", 409, "Conflict", "The batch is still open (or already sent, for sending): close it first."),
    /// A document is in at most one batch.
    AlreadyBatched = ("already_batched", 409, "Conflict", "The document is in a batch already; a document is in at most one batch."),
    /// A tax rule that would say something of the same lines on the same day as another.
    TaxRuleOverlaps = ("tax_rule_overlaps", 422, "Tax rule overlaps another", "Another tax rule of the country covers the same lines (the same catalog code, service group, or the whole country) on some of the same days; end that one first."),
    /// An invoice cancelled by a credit note.
    InvoiceCancelled = ("invoice_cancelled", 409, "Conflict", "The invoice was cancelled by a credit note; nothing can be allocated to it."),
    /// A document that would not be valid.
    DocumentIncomplete = ("document_incomplete", 409, "Document incomplete", "The document would not be valid in the standard asked for; `missing` lists each business term it lacks (BT number, name) and the resource to complete (`href`)."),
    /// Rules that contradict each other.
    ConflictingRules = ("conflicting_rules", 409, "Conflict", "Enabled invoicing rules contradict each other for the same scope."),
    /// Overlapping prices.
    PriceOverlap = ("price_overlap", 409, "Conflict", "Another price of the same item, list and scope is valid on some of these days."),
    /// Overlapping offers.
    OverlappingOffer = ("overlapping_offer", 409, "Conflict", "Another offer for the same bundle is valid on some of these days."),
    /// Overlapping stays.
    OverlappingStay = ("overlapping_stay", 409, "Conflict", "Another stay of the patient at the location covers some of these days."),
    /// Overlapping evaluations.
    OverlappingEvaluation = ("overlapping_evaluation", 409, "Conflict", "Another evaluation of the patient at the location covers some of these days."),
    /// A period billed already.
    PeriodAlreadyBilled = ("period_already_billed", 409, "Conflict", "A committed billing run already covers this period."),
    /// A later run exists.
    LaterRunExists = ("later_run_exists", 409, "Conflict", "A later billing run exists; correct through it instead."),
    /// A manual correction where none is allowed.
    ManualCorrectionNotAllowed = ("manual_correction_not_allowed", 409, "Conflict", "The rule does not allow manual corrections of its lines."),
    /// Nothing approvable.
    NothingToApprove = ("nothing_to_approve", 422, "Nothing to approve", "The settlement has no billable line."),
    /// Lines left unresolved.
    UnresolvedLines = ("unresolved_lines", 422, "Unresolved lines", "Some lines have no price or paying party; resolve them first."),
    /// Voided lines still billed.
    VoidedLinesBilled = ("voided_lines_billed", 422, "Voided lines still billed", "Voided consumptions are still on issued invoices; credit them first."),
    /// An allocation of nothing.
    NotPositive = ("not_positive", 422, "Allocation refused", "An allocation must be greater than zero."),
    /// The same invoice twice.
    DuplicateInvoice = ("duplicate_invoice", 422, "Allocation refused", "The same invoice appears twice among the allocations."),
    /// An invoice with no receivable.
    UnknownInvoice = ("unknown_invoice", 422, "Allocation refused", "No receivable exists for this invoice in the caller's scope."),
    /// Someone else's invoice.
    OtherParty = ("other_party", 422, "Allocation refused", "The invoice is addressed to another party than the payment's."),
    /// Another currency.
    CurrencyMismatch = ("currency_mismatch", 422, "Allocation refused", "The invoice or amount is in another currency than the payment."),
    /// More than owed.
    ExceedsOutstanding = ("exceeds_outstanding", 422, "Allocation refused", "The allocation is more than the invoice still owes."),
    /// More than available.
    OverAllocated = ("over_allocated", 422, "Allocation refused", "The allocations add up to more than the payment (or its unallocated remainder)."),
    /// A refund above the credit.
    ExceedsCredit = ("exceeds_credit", 422, "Refund refused", "The refund is more than the payment's unallocated credit (amount − allocated − refunded)."),
    /// Tenders that are not the payment.
    TendersDoNotAddUp = ("tenders_do_not_add_up", 422, "Tenders refused", "The payment's tenders do not add up to its amount (each positive, in its currency)."),
    /// A small balance that is not small.
    AboveThreshold = ("above_threshold", 422, "Write-off refused", "A small-balance write-off needs the receivable to owe at most the threshold of its currency (`/v1/collections/write-off-thresholds`); none set: none allowed."),
    /// Nothing owed to pay by link.
    NothingOutstanding = ("nothing_outstanding", 409, "Conflict", "The receivable (or the party's balance in that currency) owes nothing: there is nothing to pay by link."),
    /// No payment provider configured.
    NoPaymentProvider = ("no_payment_provider", 409, "Conflict", "No payment provider is configured in this installation (`[payments]`: `provider_url` and `secret_key` for links, `webhook_secret` for webhooks); ask the operator."),
    /// The payment provider failed.
    PaymentProviderFailed = ("payment_provider_failed", 502, "Bad gateway", "The payment provider could not be reached, or refused or garbled the request, after retries; nothing was stored. Retry later."),
    /// A webhook whose signature does not verify.
    InvalidSignature = ("invalid_signature", 401, "Unauthorized", "A webhook's `Stripe-Signature` is missing, malformed, not made with the webhook secret, or more than 5 minutes old; nothing was recorded."),
    /// Nothing in a timesheet waits to be submitted.
    NothingToSubmit = ("nothing_to_submit", 409, "Conflict", "The timesheet has no draft hours to submit; disputed hours must be changed (or removed) first."),
    /// Hours already decided.
    AlreadyDecided = ("already_decided", 409, "Conflict", "The hours were already approved or disputed; the client decides each submitted line once."),
    /// A portal link that does not open a document.
    InvalidLink = ("invalid_link", 401, "Unauthorized", "The portal link is unknown, expired or revoked; ask the sender for a new one."),
    /// Installments that are not what is owed.
    PlanDoesNotAddUp = ("plan_does_not_add_up", 422, "Plan refused", "A payment plan's installments (each positive, in its currency) must add up exactly to what its receivables still owe."),
    /// A receivable already being paid by a plan.
    AlreadyInPlan = ("already_in_plan", 409, "Conflict", "The receivable is in another active payment plan; a receivable is in one active plan at most."),
    /// Nothing to put in a plan.
    NothingOwed = ("nothing_owed", 409, "Conflict", "Nothing is owed on the receivables asked for (paid, written off or cancelled, or none open)."),
    /// A plan that no longer runs.
    PlanNotActive = ("plan_not_active", 409, "Conflict", "The payment plan is completed, broken or cancelled: it no longer changes."),
    /// A second open dispute.
    DisputeOpen = ("dispute_open", 409, "Conflict", "The receivable has an open dispute already; resolve it first."),
    /// No dispute to resolve.
    NoOpenDispute = ("no_open_dispute", 409, "Conflict", "The receivable has no open dispute to resolve."),
    /// An adjustment that would owe less than nothing.
    BelowZeroOutstanding = ("below_zero_outstanding", 422, "Adjustment refused", "The adjustment would take what the receivable owes below zero."),
    /// A body that is not a bank statement read here.
    NotCamt = ("not_camt", 422, "Not a bank statement", "The body is not well-formed XML, not an ISO 20022 camt.053 or camt.054 (versions 001.02 to 001.08), lacks what an import needs (message id, statement id, account, amounts) or has no entries; nothing was imported."),
    /// A statement whose entries do not add up.
    StatementDoesNotAddUp = ("statement_does_not_add_up", 422, "Statement does not add up", "The statement's entries do not match its own summary (`TxsSummry` counts and sums), its opening and closing balances, or their transactions, or are in another currency than the account's; nothing was imported."),
    /// A bank entry that is not waiting for a person.
    AlreadyMatched = ("already_matched", 409, "Conflict", "The bank statement entry is matched already, or is a debit or a duplicate: only an unmatched credit is matched by hand."),
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ErrorCode {
    /// The kind of failure.
    pub const fn kind(self) -> ErrorKind {
        match self.status() {
            401 => ErrorKind::Unauthenticated,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            405 => ErrorKind::NotAllowed,
            409 => ErrorKind::Conflict,
            412 | 428 => ErrorKind::Precondition,
            422 => ErrorKind::Invalid,
            502 | 503 => ErrorKind::Unavailable,
            500 => ErrorKind::Internal,
            _ => ErrorKind::BadRequest,
        }
    }

    /// The code with this wire form.
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == code)
    }

    /// The error reference (`docs/reference/errors.md`), as Markdown.
    pub fn reference() -> String {
        let mut out = String::from(
            "# Error codes\n\n\
             Every error is an RFC 9457 `application/problem+json` body whose `code` is one of \
             these, with the status and title given here; `type` is `urn:carebill:problem:<code>`. \
             Validation failures (and the allocation codes) list each field in `errors`, each \
             with its own field-level code (`invalid`, `required`, `out_of_range`, ...).\n\n\
             Generated by `carebill errors` from the code; a test fails when this page is stale.\n\n\
             | code | status | title | meaning |\n|---|---|---|---|\n",
        );
        for c in ErrorCode::ALL {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                c.as_str(),
                c.status(),
                c.title(),
                c.meaning()
            ));
        }
        out
    }
}

/// A problem detail as sent to the caller.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// URI identifying the problem type (`urn:carebill:problem:<code>`).
    #[serde(rename = "type")]
    #[schema(example = "urn:carebill:problem:validation_failed")]
    pub problem_type: String,
    /// Short summary of the problem type.
    #[schema(example = "Validation failed")]
    pub title: String,
    /// HTTP status.
    #[schema(example = 422)]
    pub status: u16,
    /// What went wrong in this occurrence.
    #[schema(example = "2 fields are invalid")]
    pub detail: String,
    /// Stable machine-readable code (see the error reference).
    #[schema(example = "validation_failed", schema_with = error_code_schema)]
    pub code: String,
    /// Field-level problems, for validation failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// The OpenAPI schema of a problem's `code`: one of the stable codes.
fn error_code_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .description(Some(
            "Stable machine-readable code (see the error reference).",
        ))
        .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
        .examples([serde_json::json!("validation_failed")])
        .build()
}

/// The cause of an error: kept for the logs and the dead letters, never shown to a caller.
type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// An error of any layer: a stable code, a detail for the caller, field errors, and the cause.
#[derive(Debug, Clone)]
pub struct Error {
    code: ErrorCode,
    detail: String,
    errors: Vec<FieldError>,
    source: Option<Source>,
}

/// A cause known only by its text (a panic message, a foreign error without a type).
#[derive(Debug)]
struct Message(String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

impl Error {
    /// An error with this code and detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Error {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            source: None,
        }
    }

    /// 422 with field-level errors.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        Error {
            errors,
            ..Self::new(ErrorCode::ValidationFailed, detail)
        }
    }

    /// The same problem with field-level details.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// The same problem with its cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// 422 for a single field.
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }])
    }

    /// 404 for a resource kind.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// 401: no or bad credentials.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, detail)
    }

    /// 403: authenticated but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, detail)
    }

    /// 413: the body or batch is too large.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::PayloadTooLarge, detail)
    }

    /// 503: a dependency is unavailable; the cause is kept for the log.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::Unavailable,
            "a dependency is unavailable; retry later",
        )
        .with_source(Message(cause.to_string()))
    }

    /// 500: a bug or unexpected failure; the cause is kept for the log, never shown.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        Self::new(ErrorCode::Internal, "an internal error occurred")
            .with_source(Message(cause.to_string()))
    }

    /// A stored value that cannot be read: a 500 naming what and where.
    pub fn stored(what: &str, value: &str, why: impl std::fmt::Display) -> Self {
        Self::internal(&format!("stored {what} `{value}` cannot be read: {why}"))
    }

    /// An incoming event that breaks its contract: retried, then dead-lettered.
    pub fn invalid_event(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidEvent, detail)
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.code.kind()
    }

    /// The detail shown to the caller.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The field-level problems.
    pub fn field_errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// The cause chain, outermost first, as text (empty when the caller is at fault).
    pub fn causes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut next: Option<&(dyn std::error::Error + 'static)> = self
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static));
        while let Some(e) = next {
            out.push(e.to_string());
            next = e.source();
        }
        out
    }

    /// The problem body.
    pub fn problem(&self) -> Problem {
        Problem {
            problem_type: format!("urn:carebill:problem:{}", self.code.as_str()),
            title: self.code.title().to_owned(),
            status: self.code.status(),
            detail: self.detail.clone(),
            code: self.code.as_str().to_owned(),
            errors: self.errors.clone(),
        }
    }
}

/// `code: detail`, then `: cause` for each cause in the chain: what logs and dead letters keep.
impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)?;
        for cause in self.causes() {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as Diesel};
        let error = match &e {
            Diesel::NotFound => Error::not_found("resource"),
            Diesel::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Error::new(
                ErrorCode::AlreadyExists,
                "a record with these identifying values already exists",
            ),
            Diesel::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => Error::new(
                ErrorCode::Unavailable,
                "a dependency is unavailable; retry later",
            ),
            Diesel::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => Error::new(
                ErrorCode::ConcurrentUpdate,
                "a concurrent change interfered; retry",
            ),
            // PostgreSQL broke a lock cycle by rolling this transaction back: nothing was
            // changed, and the same request succeeds when sent again.
            Diesel::DatabaseError(_, info) if info.message().contains("deadlock detected") => {
                Error::new(
                    ErrorCode::ConcurrentUpdate,
                    "a concurrent change interfered; retry",
                )
            }
            _ => Error::new(ErrorCode::Internal, "an internal error occurred"),
        };
        error.with_source(e)
    }
}

impl From<crate::db::DbError> for Error {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::Query(q) => q.into(),
            other => Error::new(
                ErrorCode::Unavailable,
                "a dependency is unavailable; retry later",
            )
            .with_source(other),
        }
    }
}

/// A stored value that does not read back: a bug or a damaged row (500), its text kept for the
/// log.
impl From<carebill_domain::stored::Unreadable> for Error {
    fn from(e: carebill_domain::stored::Unreadable) -> Self {
        Error::new(ErrorCode::Internal, "an internal error occurred").with_source(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::new(ErrorCode::Internal, "an internal error occurred").with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_map_to_their_kind() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert!(
                c.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    && c.as_str().starts_with(|ch: char| ch.is_ascii_lowercase()),
                "{c}"
            );
            assert_eq!(ErrorCode::parse(c.as_str()), Some(*c));
            assert!(!c.meaning().is_empty(), "{c} has no meaning");
        }
        assert_eq!(ErrorCode::NotFound.kind(), ErrorKind::NotFound);
        assert_eq!(
            ErrorCode::PreconditionRequired.kind(),
            ErrorKind::Precondition
        );
        assert_eq!(ErrorCode::MalformedJson.kind(), ErrorKind::BadRequest);
    }

    #[test]
    fn the_cause_chain_is_kept_for_logs_but_never_shown() {
        let db = diesel::result::Error::DeserializationError("a bad column".into());
        let e = Error::from(db);
        assert_eq!(e.code(), ErrorCode::Internal);
        assert_eq!(e.problem().detail, "an internal error occurred");
        let text = e.to_string();
        assert!(
            text.starts_with("internal: an internal error occurred: "),
            "{text}"
        );
        assert!(text.contains("a bad column"), "{text}");
        let stored = Error::stored("currency", "XXY", "unknown ISO 4217 code");
        assert!(stored.to_string().contains("stored currency `XXY`"));
        assert!(
            !serde_json::to_string(&stored.problem())
                .unwrap_or_default()
                .contains("XXY")
        );
    }

    #[test]
    fn the_error_reference_is_current() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/reference/errors.md"
        );
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == ErrorCode::reference(),
            "docs/reference/errors.md is stale: run `cargo run -q -p carebill -- errors > docs/reference/errors.md` and commit it"
        );
    }
}
