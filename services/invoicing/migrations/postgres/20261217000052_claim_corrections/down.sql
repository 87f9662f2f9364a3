DROP INDEX e_billing_claims_corrections;
DROP INDEX e_billing_claims_active;
CREATE UNIQUE INDEX e_billing_claims_active ON e_billing_claims (invoice_id, frequency) WHERE active;
ALTER TABLE e_billing_claims DROP COLUMN corrects_claim_id;
ALTER TABLE e_billing_claims DROP COLUMN credit_note_id;
