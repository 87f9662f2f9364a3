-- A committed billing run feeds one periodic settlement per beneficiary.
ALTER TABLE settlements ADD COLUMN billing_run_id TEXT;
CREATE INDEX settlements_billing_run ON settlements (billing_run_id);
-- What invoices need of the beneficiary, as accounts last sent it with a care record.
ALTER TABLE care_records ADD COLUMN patient TEXT;
ALTER TABLE care_records ADD COLUMN location TEXT;
ALTER TABLE care_records ADD COLUMN coverages TEXT NOT NULL DEFAULT '[]';
-- A periodic settlement reads its beneficiary's lines of the run.
CREATE INDEX billing_run_lines_run_patient ON billing_run_lines (run_id, patient_id, line_no);
