DROP TABLE settlement_changes;
ALTER TABLE settlements DROP COLUMN change_seq;
