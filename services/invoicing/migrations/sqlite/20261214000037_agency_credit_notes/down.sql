ALTER TABLE agency_invoices DROP COLUMN series_prefix;
DELETE FROM document_lines WHERE document_id IN (SELECT id FROM credit_notes WHERE settlement_id IS NULL);
DELETE FROM credit_notes WHERE settlement_id IS NULL;
CREATE TABLE credit_notes_old (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    invoice_number TEXT NOT NULL,
    location_id TEXT NOT NULL,
    location_code TEXT NOT NULL,
    recipient_kind TEXT NOT NULL,
    payer_code TEXT,
    patient_id TEXT NOT NULL,
    settlement_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    total_minor BIGINT NOT NULL,
    tax_total_minor BIGINT NOT NULL,
    reason TEXT NOT NULL,
    reissue BOOLEAN NOT NULL,
    issue_date DATE NOT NULL,
    issued_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    partial BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO credit_notes_old (id, number, invoice_id, invoice_number, location_id, location_code, recipient_kind, payer_code, patient_id, settlement_id, currency, total_minor, tax_total_minor, reason, reissue, issue_date, issued_by, created_at, issued_at, partial)
SELECT id, number, invoice_id, invoice_number, location_id, location_code, recipient_kind, payer_code, patient_id, settlement_id, currency, total_minor, tax_total_minor, reason, reissue, issue_date, issued_by, created_at, issued_at, partial FROM credit_notes;
DROP TABLE credit_notes;
ALTER TABLE credit_notes_old RENAME TO credit_notes;
CREATE INDEX credit_notes_location ON credit_notes (location_code, id);
CREATE INDEX credit_notes_payer ON credit_notes (payer_code, id);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id);
