-- E-billings (seed 002, issue 18): the payer invoices of one billing provider (location) to one
-- payer, claimed together in one X12 837 file. Each invoice is one claim, checked against the
-- payer's e-billing settings and the master data invoicing keeps; `gaps` is the check's answer
-- (JSON). A claim is active while its e-billing is not cancelled: an invoice is in at most one
-- active claim of each frequency (1 original, 7 replacement, 8 void).
CREATE TABLE e_billings (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    location_id TEXT NOT NULL,
    location_code TEXT NOT NULL,
    payer_code TEXT NOT NULL,
    status TEXT NOT NULL,
    selection TEXT NOT NULL,
    currency TEXT NOT NULL,
    claim_count INTEGER NOT NULL,
    ready_count INTEGER NOT NULL,
    gap_count INTEGER NOT NULL,
    total_charge_minor BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    checked_at TIMESTAMP NOT NULL,
    cancelled_by TEXT,
    cancelled_at TIMESTAMP,
    sent_by TEXT,
    sent_at TIMESTAMP
);
CREATE INDEX e_billings_location ON e_billings (location_code, id);
CREATE INDEX e_billings_payer ON e_billings (payer_code, id);

CREATE TABLE e_billing_claims (
    id TEXT PRIMARY KEY,
    e_billing_id TEXT NOT NULL REFERENCES e_billings (id),
    position INTEGER NOT NULL,
    invoice_id TEXT NOT NULL,
    invoice_number TEXT NOT NULL,
    frequency TEXT NOT NULL,
    format TEXT,
    charge_minor BIGINT NOT NULL,
    status TEXT NOT NULL,
    gaps TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    payer_claim_number TEXT,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX e_billing_claims_e_billing ON e_billing_claims (e_billing_id, position);
CREATE UNIQUE INDEX e_billing_claims_active ON e_billing_claims (invoice_id, frequency) WHERE active;
