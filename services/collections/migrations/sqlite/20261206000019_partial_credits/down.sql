DROP TABLE partial_credit_notes;
ALTER TABLE receivables DROP COLUMN credited_minor;
