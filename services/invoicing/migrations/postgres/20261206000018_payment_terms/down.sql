ALTER TABLE invoices DROP COLUMN payment_terms;
