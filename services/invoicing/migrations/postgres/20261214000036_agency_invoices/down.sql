DELETE FROM invoices WHERE id IN (SELECT invoice_id FROM agency_invoices);
DROP TABLE agency_invoices;
ALTER TABLE invoices ALTER COLUMN settlement_version SET NOT NULL;
ALTER TABLE invoices ALTER COLUMN settlement_number SET NOT NULL;
ALTER TABLE invoices ALTER COLUMN settlement_id SET NOT NULL;
ALTER TABLE invoices ALTER COLUMN episode_number SET NOT NULL;
ALTER TABLE invoices ALTER COLUMN episode_id SET NOT NULL;
ALTER TABLE invoices ALTER COLUMN patient_id SET NOT NULL;
