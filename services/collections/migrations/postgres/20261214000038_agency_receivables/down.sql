-- Receivables without a patient (a care agency's) go, with what refers to them.
DELETE FROM allocations WHERE receivable_id IN (SELECT id FROM receivables WHERE patient_id IS NULL);
DELETE FROM payment_plan_receivables WHERE receivable_id IN (SELECT id FROM receivables WHERE patient_id IS NULL);
DELETE FROM receivables WHERE patient_id IS NULL;
ALTER TABLE receivables ALTER COLUMN patient_id SET NOT NULL;
