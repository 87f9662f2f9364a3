-- The collections database: receivables (one per issued invoice), payments and their
-- allocations to receivables, and credit notes that arrived before their invoice.
-- Money as minor units (BIGINT) with its currency; ids as text; parties, locations and invoices
-- are event-carried copies, not foreign keys into other services.
CREATE TABLE receivables (
    id TEXT PRIMARY KEY,
    invoice_id TEXT NOT NULL UNIQUE,
    invoice_number TEXT NOT NULL,
    location_id TEXT NOT NULL,
    location_code TEXT NOT NULL,
    location_time_zone TEXT NOT NULL,
    party_kind TEXT NOT NULL,
    party_id TEXT NOT NULL,
    payer_code TEXT,
    party TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    total_minor BIGINT NOT NULL,
    paid_minor BIGINT NOT NULL,
    due_date DATE NOT NULL,
    issue_date DATE NOT NULL,
    status TEXT NOT NULL,
    credit_note_id TEXT,
    credit_note_number TEXT,
    cancel_reason TEXT,
    cancelled_at TIMESTAMP,
    issued_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX receivables_party ON receivables (party_kind, party_id);
CREATE INDEX receivables_payer_code ON receivables (payer_code);
CREATE INDEX receivables_status_due ON receivables (status, due_date);

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    party_kind TEXT NOT NULL,
    party_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    allocated_minor BIGINT NOT NULL,
    method TEXT NOT NULL,
    received_on DATE NOT NULL,
    reference TEXT,
    recorded_by TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX payments_party ON payments (party_kind, party_id);

-- An allocation is never deleted: a credit note marks it reversed, and its money returns to
-- the payment's unallocated remainder.
CREATE TABLE allocations (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    receivable_id TEXT NOT NULL REFERENCES receivables (id),
    amount_minor BIGINT NOT NULL,
    allocated_by TEXT NOT NULL,
    allocated_at TIMESTAMP NOT NULL,
    reversed_at TIMESTAMP,
    reversed_by_credit_note_id TEXT
);
CREATE INDEX allocations_payment ON allocations (payment_id);
CREATE INDEX allocations_receivable ON allocations (receivable_id);

-- A credit note whose invoice has not arrived yet (events of one invoice may come out of
-- order): applied when the invoice's issue event arrives.
CREATE TABLE early_credit_notes (
    invoice_id TEXT PRIMARY KEY,
    credit_note_id TEXT NOT NULL,
    credit_note_number TEXT NOT NULL,
    reason TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    applied_at TIMESTAMP
);
