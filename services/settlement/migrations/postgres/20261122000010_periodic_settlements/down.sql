DROP INDEX billing_run_lines_run_patient;
ALTER TABLE care_records DROP COLUMN coverages;
ALTER TABLE care_records DROP COLUMN location;
ALTER TABLE care_records DROP COLUMN patient;
DROP INDEX settlements_billing_run;
ALTER TABLE settlements DROP COLUMN billing_run_id;
