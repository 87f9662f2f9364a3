-- Invoices a care agency issues (seed 004); see the PostgreSQL migration of the same name. SQLite
-- cannot drop a NOT NULL, so the table is rebuilt (SQLite's documented procedure: foreign keys
-- off outside a transaction, a new table, copy, drop, rename); hence metadata.toml runs
-- this migration outside diesel's transaction.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE invoices_new (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    location_id TEXT NOT NULL,
    location_code TEXT NOT NULL,
    location_name TEXT NOT NULL,
    location_tax_id TEXT,
    location_time_zone TEXT NOT NULL,
    recipient_kind TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    payer_code TEXT,
    payer_kind TEXT,
    coverage_id TEXT,
    policy_number TEXT,
    patient_id TEXT,
    episode_id TEXT,
    episode_number TEXT,
    settlement_id TEXT,
    settlement_number TEXT,
    settlement_version INTEGER,
    currency TEXT NOT NULL,
    total_minor BIGINT NOT NULL,
    tax_total_minor BIGINT NOT NULL,
    issue_date DATE NOT NULL,
    due_date DATE NOT NULL,
    created_at TIMESTAMP NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    cancelled_at TIMESTAMP,
    credit_note_id TEXT,
    seller TEXT,
    buyer TEXT,
    payment_terms TEXT
);
INSERT INTO invoices_new (id, number, status, location_id, location_code, location_name, location_tax_id, location_time_zone, recipient_kind, recipient_id, payer_code, payer_kind, coverage_id, policy_number, patient_id, episode_id, episode_number, settlement_id, settlement_number, settlement_version, currency, total_minor, tax_total_minor, issue_date, due_date, created_at, issued_at, cancelled_at, credit_note_id, seller, buyer, payment_terms)
SELECT id, number, status, location_id, location_code, location_name, location_tax_id, location_time_zone, recipient_kind, recipient_id, payer_code, payer_kind, coverage_id, policy_number, patient_id, episode_id, episode_number, settlement_id, settlement_number, settlement_version, currency, total_minor, tax_total_minor, issue_date, due_date, created_at, issued_at, cancelled_at, credit_note_id, seller, buyer, payment_terms FROM invoices;
DROP TABLE invoices;
ALTER TABLE invoices_new RENAME TO invoices;
CREATE INDEX invoices_location ON invoices (location_code, id);
CREATE INDEX invoices_payer ON invoices (payer_code, id);
CREATE INDEX invoices_patient ON invoices (patient_id);
CREATE INDEX invoices_episode ON invoices (episode_id);
CREATE INDEX invoices_settlement ON invoices (settlement_id);
CREATE INDEX invoices_issue_date ON invoices (issue_date);
-- What an agency invoice is besides an invoice: what it bills (`hours`: the carer's approved
-- hours, self-billed on the carer's behalf; `commission`: the agency's commission to the carer;
-- `mediation_fee`: the agency's fee to the client), the approval, timesheet, carer and placement it comes from, the
-- free text it carries (BT-22: the self-billing agreement a self-billed invoice rests on) and who
-- receives the payment when not the seller (BG-10, JSON like `invoices.seller`).
CREATE TABLE agency_invoices (
    invoice_id TEXT PRIMARY KEY REFERENCES invoices (id),
    purpose TEXT NOT NULL,
    approval_id TEXT NOT NULL,
    timesheet_id TEXT NOT NULL,
    carer_id TEXT NOT NULL,
    placement_reference TEXT NOT NULL,
    note TEXT,
    payee TEXT,
    UNIQUE (approval_id, purpose)
);
-- (An approval's invoices are issued once: a redelivered approval finds them here.)
COMMIT;
PRAGMA foreign_keys = ON;
