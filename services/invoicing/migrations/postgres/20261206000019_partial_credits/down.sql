ALTER TABLE credit_notes DROP COLUMN partial;
DROP INDEX credit_notes_invoice;
ALTER TABLE credit_notes ADD CONSTRAINT credit_notes_invoice_id_key UNIQUE (invoice_id);
