-- Receivables of a care agency's invoices (seed 004): the commission invoice to a carer, and
-- invoices to an organisation, concern no patient.
ALTER TABLE receivables ALTER COLUMN patient_id DROP NOT NULL;
