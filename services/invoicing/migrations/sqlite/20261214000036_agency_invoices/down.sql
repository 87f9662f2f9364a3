PRAGMA foreign_keys = OFF;
BEGIN;
-- Agency invoices go with the table that says what they are (their lines, credit notes,
-- deliveries and links first).
DELETE FROM document_lines WHERE document_id IN (SELECT id FROM credit_notes WHERE invoice_id IN (SELECT invoice_id FROM agency_invoices));
DELETE FROM credit_notes WHERE invoice_id IN (SELECT invoice_id FROM agency_invoices);
DELETE FROM document_lines WHERE document_id IN (SELECT invoice_id FROM agency_invoices);
DELETE FROM portal_links WHERE document_id IN (SELECT invoice_id FROM agency_invoices);
DELETE FROM deliveries WHERE document_id IN (SELECT invoice_id FROM agency_invoices);
DELETE FROM invoices WHERE id IN (SELECT invoice_id FROM agency_invoices);
DROP TABLE agency_invoices;
CREATE TABLE invoices_old (
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
    patient_id TEXT NOT NULL,
    episode_id TEXT NOT NULL,
    episode_number TEXT NOT NULL,
    settlement_id TEXT NOT NULL,
    settlement_number TEXT NOT NULL,
    settlement_version INTEGER NOT NULL,
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
INSERT INTO invoices_old (id, number, status, location_id, location_code, location_name, location_tax_id, location_time_zone, recipient_kind, recipient_id, payer_code, payer_kind, coverage_id, policy_number, patient_id, episode_id, episode_number, settlement_id, settlement_number, settlement_version, currency, total_minor, tax_total_minor, issue_date, due_date, created_at, issued_at, cancelled_at, credit_note_id, seller, buyer, payment_terms)
SELECT id, number, status, location_id, location_code, location_name, location_tax_id, location_time_zone, recipient_kind, recipient_id, payer_code, payer_kind, coverage_id, policy_number, patient_id, episode_id, episode_number, settlement_id, settlement_number, settlement_version, currency, total_minor, tax_total_minor, issue_date, due_date, created_at, issued_at, cancelled_at, credit_note_id, seller, buyer, payment_terms FROM invoices;
DROP TABLE invoices;
ALTER TABLE invoices_old RENAME TO invoices;
CREATE INDEX invoices_location ON invoices (location_code, id);
CREATE INDEX invoices_payer ON invoices (payer_code, id);
CREATE INDEX invoices_patient ON invoices (patient_id);
CREATE INDEX invoices_episode ON invoices (episode_id);
CREATE INDEX invoices_settlement ON invoices (settlement_id);
CREATE INDEX invoices_issue_date ON invoices (issue_date);
COMMIT;
PRAGMA foreign_keys = ON;
