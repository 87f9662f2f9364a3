ALTER TABLE payers DROP COLUMN billing;
ALTER TABLE locations DROP COLUMN billing;
