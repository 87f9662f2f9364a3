DROP TABLE condition_sets;
DROP TABLE billing_run_lines;
DROP TABLE billing_runs;
DROP TABLE care_records;
ALTER TABLE prices DROP COLUMN care_level;
ALTER TABLE prices DROP COLUMN object_type;
ALTER TABLE prices DROP COLUMN beneficiary_kind;
