-- The payment terms an invoice was issued under (JSON: days, end_of_month, text), as the
-- payer's or the location's master data gave them; the due date follows them. NULL on invoices
-- issued before: 30 days net.
ALTER TABLE invoices ADD COLUMN payment_terms TEXT;
