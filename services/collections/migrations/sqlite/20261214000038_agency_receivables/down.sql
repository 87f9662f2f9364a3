PRAGMA foreign_keys = OFF;
BEGIN;
-- Receivables without a patient (a care agency's) go, with what refers to them.
DELETE FROM allocations WHERE receivable_id IN (SELECT id FROM receivables WHERE patient_id IS NULL);
DELETE FROM payment_plan_receivables WHERE receivable_id IN (SELECT id FROM receivables WHERE patient_id IS NULL);
DELETE FROM receivables WHERE patient_id IS NULL;
CREATE TABLE receivables_old (
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
    updated_at TIMESTAMP NOT NULL,
    credited_minor BIGINT NOT NULL DEFAULT 0,
    written_off_minor BIGINT NOT NULL DEFAULT 0,
    payment_reference TEXT,
    adjusted_minor BIGINT NOT NULL DEFAULT 0
);
INSERT INTO receivables_old (id, invoice_id, invoice_number, location_id, location_code, location_time_zone, party_kind, party_id, payer_code, party, patient_id, currency, total_minor, paid_minor, due_date, issue_date, status, credit_note_id, credit_note_number, cancel_reason, cancelled_at, issued_at, created_at, updated_at, credited_minor, written_off_minor, payment_reference, adjusted_minor)
SELECT id, invoice_id, invoice_number, location_id, location_code, location_time_zone, party_kind, party_id, payer_code, party, patient_id, currency, total_minor, paid_minor, due_date, issue_date, status, credit_note_id, credit_note_number, cancel_reason, cancelled_at, issued_at, created_at, updated_at, credited_minor, written_off_minor, payment_reference, adjusted_minor FROM receivables;
DROP TABLE receivables;
ALTER TABLE receivables_old RENAME TO receivables;
CREATE INDEX receivables_payer_code ON receivables (payer_code);
CREATE INDEX receivables_status_due ON receivables (status, due_date);
CREATE INDEX receivables_payment_reference ON receivables (payment_reference);
CREATE INDEX receivables_party_newest ON receivables (party_kind, party_id, id);
CREATE INDEX receivables_aging ON receivables (status, issue_date, due_date, currency,
    location_code, payer_code, patient_id, total_minor, adjusted_minor, credited_minor,
    paid_minor, written_off_minor, invoice_id);
COMMIT;
PRAGMA foreign_keys = ON;
