ALTER TABLE invoices DROP COLUMN buyer;
ALTER TABLE invoices DROP COLUMN seller;
