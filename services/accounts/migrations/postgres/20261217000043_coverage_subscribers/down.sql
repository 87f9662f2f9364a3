ALTER TABLE coverages DROP COLUMN group_number;
ALTER TABLE coverages DROP COLUMN subscriber;
