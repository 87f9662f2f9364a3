ALTER TABLE receivables ALTER COLUMN patient_id SET NOT NULL;
