-- A committed billing run feeds one periodic settlement per beneficiary.
ALTER TABLE settlements ADD COLUMN billing_run_id TEXT;
CREATE INDEX settlements_billing_run ON settlements (billing_run_id);
-- What invoices need of the beneficiary, as accounts last sent it with a care record.
ALTER TABLE care_records ADD COLUMN patient TEXT;
ALTER TABLE care_records ADD COLUMN location TEXT;
ALTER TABLE care_records ADD COLUMN coverages TEXT NOT NULL DEFAULT '[]';
