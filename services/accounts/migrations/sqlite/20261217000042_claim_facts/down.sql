ALTER TABLE locations DROP COLUMN claims;
ALTER TABLE catalog_items DROP COLUMN billing_code;
