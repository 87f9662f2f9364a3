-- Credit notes of a care agency's invoices (seed 004): they credit no settlement, and concern a
-- patient only when the invoice did. A self-billed invoice's credit note (UBL 261) is numbered
-- in the carer's own series, like the invoice.
ALTER TABLE credit_notes ALTER COLUMN patient_id DROP NOT NULL;
ALTER TABLE credit_notes ALTER COLUMN settlement_id DROP NOT NULL;
-- The prefix of the carer's series a self-billed invoice was numbered in (`{agency}-{carer}`):
-- its credit notes are numbered in the same carer's series of credit notes.
ALTER TABLE agency_invoices ADD COLUMN series_prefix TEXT;
