DROP INDEX credit_notes_invoice;
ALTER TABLE credit_notes DROP COLUMN partial;
