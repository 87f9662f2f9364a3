-- What an e-invoice shows of its seller (the issuing location) and buyer (the payer or the
-- patient), kept as the invoice was issued (JSON) so that it renders the same later whatever
-- master data becomes. NULL on invoices issued before: their seller is the location name and tax
-- id kept beside.
ALTER TABLE invoices ADD COLUMN seller TEXT;
ALTER TABLE invoices ADD COLUMN buyer TEXT;
