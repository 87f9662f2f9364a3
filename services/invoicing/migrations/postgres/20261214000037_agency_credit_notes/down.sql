ALTER TABLE agency_invoices DROP COLUMN series_prefix;
DELETE FROM document_lines WHERE document_id IN (SELECT id FROM credit_notes WHERE settlement_id IS NULL);
DELETE FROM credit_notes WHERE settlement_id IS NULL;
ALTER TABLE credit_notes ALTER COLUMN settlement_id SET NOT NULL;
ALTER TABLE credit_notes ALTER COLUMN patient_id SET NOT NULL;
