-- What EN 16931 e-invoices need of a seller (location) or buyer (payer): legal name, VAT id,
-- legal registration id and electronic address with their schemes, the location's bank account
-- and contact e-mail, the payer's default buyer reference. One JSON document per row (validated
-- when written), NULL until someone gives it, so existing rows stay valid.
ALTER TABLE locations ADD COLUMN billing TEXT;
ALTER TABLE payers ADD COLUMN billing TEXT;
