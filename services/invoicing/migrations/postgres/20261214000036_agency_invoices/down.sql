-- Agency invoices go with the table that says what they are (their lines, credit notes,
-- deliveries and links first; nothing else refers to them).
CREATE TEMPORARY TABLE agency_invoice_ids AS SELECT invoice_id AS id FROM agency_invoices;
DROP TABLE agency_invoices;
DELETE FROM document_lines WHERE document_id IN (SELECT id FROM credit_notes WHERE invoice_id IN (SELECT id FROM agency_invoice_ids));
DELETE FROM credit_notes WHERE invoice_id IN (SELECT id FROM agency_invoice_ids);
DELETE FROM document_lines WHERE document_id IN (SELECT id FROM agency_invoice_ids);
DELETE FROM portal_links WHERE document_id IN (SELECT id FROM agency_invoice_ids);
DELETE FROM deliveries WHERE document_id IN (SELECT id FROM agency_invoice_ids);
DELETE FROM invoices WHERE id IN (SELECT id FROM agency_invoice_ids);
DROP TABLE agency_invoice_ids;
ALTER TABLE invoices ALTER COLUMN settlement_version SET NOT NULL;
ALTER TABLE invoices ALTER COLUMN settlement_number SET NOT NULL;
ALTER TABLE invoices ALTER COLUMN settlement_id SET NOT NULL;
ALTER TABLE invoices ALTER COLUMN episode_number SET NOT NULL;
ALTER TABLE invoices ALTER COLUMN episode_id SET NOT NULL;
ALTER TABLE invoices ALTER COLUMN patient_id SET NOT NULL;
