-- Corrections (issue 18, C6): a replacement (CLM05-3 `7`) or void (`8`) claim names the credit
-- note that made it and the claim it corrects (whose payer claim number is its REF*F8). An
-- invoice holds at most one active original claim, and at most one active correction per
-- credit note; the partial unique indexes hold it against two e-billings made at once.
ALTER TABLE e_billing_claims ADD COLUMN credit_note_id TEXT;
ALTER TABLE e_billing_claims ADD COLUMN corrects_claim_id TEXT;
DROP INDEX e_billing_claims_active;
CREATE UNIQUE INDEX e_billing_claims_active ON e_billing_claims (invoice_id, frequency)
    WHERE active AND credit_note_id IS NULL;
CREATE UNIQUE INDEX e_billing_claims_corrections ON e_billing_claims (invoice_id, credit_note_id)
    WHERE active AND credit_note_id IS NOT NULL;
