-- Invoices a care agency issues (seed 004) beside those of settlements: the self-billed invoice
-- for a carer's approved hours (issued on the carer's behalf, the carer as seller, UBL 389), the
-- commission invoice to the carer and the mediation-fee invoice to the client (the agency as
-- seller). They have no episode or settlement, and a patient only when the client is a person.
ALTER TABLE invoices ALTER COLUMN patient_id DROP NOT NULL;
ALTER TABLE invoices ALTER COLUMN episode_id DROP NOT NULL;
ALTER TABLE invoices ALTER COLUMN episode_number DROP NOT NULL;
ALTER TABLE invoices ALTER COLUMN settlement_id DROP NOT NULL;
ALTER TABLE invoices ALTER COLUMN settlement_number DROP NOT NULL;
ALTER TABLE invoices ALTER COLUMN settlement_version DROP NOT NULL;
-- What an agency invoice is besides an invoice: what it bills (`hours`: the carer's approved
-- hours, self-billed on the carer's behalf; `commission`: the agency's commission to the carer;
-- `mediation_fee`: the agency's fee to the client), the approval, timesheet, carer and placement it comes from, the
-- free text it carries (BT-22: the self-billing agreement a self-billed invoice rests on) and who
-- receives the payment when not the seller (BG-10, JSON like `invoices.seller`).
CREATE TABLE agency_invoices (
    invoice_id TEXT PRIMARY KEY REFERENCES invoices (id),
    purpose TEXT NOT NULL,
    approval_id TEXT NOT NULL,
    timesheet_id TEXT NOT NULL,
    carer_id TEXT NOT NULL,
    placement_reference TEXT NOT NULL,
    note TEXT,
    payee TEXT,
    UNIQUE (approval_id, purpose)
);
-- (An approval's invoices are issued once: a redelivered approval finds them here.)
