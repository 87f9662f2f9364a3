-- Partial credit notes: an invoice may have several credit notes (partial ones, then at most one
-- full one that cancels it), so a credit note's invoice is no longer unique.
ALTER TABLE credit_notes DROP CONSTRAINT credit_notes_invoice_id_key;
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id);
ALTER TABLE credit_notes ADD COLUMN partial BOOLEAN NOT NULL DEFAULT FALSE;
