-- Payers' 835 remittances (POST /v1/remittances): what each claim was paid and why the rest
-- was not, posted to the receivables of the invoices the claims billed.

-- The claims invoicing sent (carebill.invoicing.e_billing.sent.v1): how an 835's patient
-- control number (CLP01) leads to its invoice, never by guessing.
CREATE TABLE claim_references (
    claim_id TEXT PRIMARY KEY,
    patient_control_number TEXT NOT NULL,
    invoice_id TEXT NOT NULL,
    e_billing_id TEXT NOT NULL,
    payer_code TEXT NOT NULL,
    payer_id TEXT NOT NULL,
    frequency TEXT NOT NULL,
    sent_at TIMESTAMP NOT NULL
);
CREATE INDEX claim_references_pcn ON claim_references (patient_control_number);
CREATE INDEX claim_references_payer_id ON claim_references (payer_id);

-- One payment (an 835 transaction: BPR and TRN), once per payer id and trace number.
CREATE TABLE remittances (
    id TEXT PRIMARY KEY,
    payer_id TEXT NOT NULL,
    trace_number TEXT NOT NULL,
    payer_code TEXT,
    payer_name TEXT NOT NULL,
    handling TEXT NOT NULL,
    method TEXT NOT NULL,
    paid_on DATE NOT NULL,
    currency TEXT NOT NULL,
    total_minor BIGINT NOT NULL,
    claim_count BIGINT NOT NULL,
    posted_count BIGINT NOT NULL,
    review_count BIGINT NOT NULL,
    denied_count BIGINT NOT NULL,
    unmatched_count BIGINT NOT NULL,
    posted_minor BIGINT NOT NULL,
    unmatched_minor BIGINT NOT NULL,
    provider_adjustments TEXT NOT NULL,
    interchange_control_number TEXT NOT NULL,
    transaction_control_number TEXT NOT NULL,
    digest TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    imported_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (payer_id, trace_number)
);
CREATE INDEX remittances_digest ON remittances (digest);

-- Each claim payment (CLP) of a remittance, matched to its invoice or kept for a person.
CREATE TABLE remittance_claims (
    id TEXT PRIMARY KEY,
    remittance_id TEXT NOT NULL REFERENCES remittances (id),
    position BIGINT NOT NULL,
    patient_control_number TEXT NOT NULL,
    payer_claim_number TEXT NOT NULL,
    status_code TEXT NOT NULL,
    status TEXT NOT NULL,
    currency TEXT NOT NULL,
    charge_minor BIGINT NOT NULL,
    paid_minor BIGINT NOT NULL,
    patient_responsibility_minor BIGINT NOT NULL,
    patient_share_minor BIGINT NOT NULL,
    unallocated_minor BIGINT NOT NULL,
    left_owing_minor BIGINT NOT NULL,
    invoice_id TEXT,
    invoice_number TEXT,
    receivable_id TEXT,
    location_code TEXT,
    claim_id TEXT,
    payment_id TEXT,
    note TEXT NOT NULL,
    detail TEXT NOT NULL,
    posted_by TEXT,
    posted_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX remittance_claims_remittance ON remittance_claims (remittance_id, position);
CREATE INDEX remittance_claims_status ON remittance_claims (status, id);
CREATE INDEX remittance_claims_invoice ON remittance_claims (invoice_id);

-- An 835's claim not sent by Carebill is matched by the invoice number.
CREATE INDEX receivables_invoice_number ON receivables (invoice_number);
