DROP TABLE partial_credit_lines;
ALTER TABLE settlement_billing DROP COLUMN credited_minor;
