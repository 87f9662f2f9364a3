DROP TABLE patient_coverages;
ALTER TABLE care_records DROP COLUMN coverages_at;
DROP TABLE cancelled_episodes;
DROP TABLE credited_invoices;
