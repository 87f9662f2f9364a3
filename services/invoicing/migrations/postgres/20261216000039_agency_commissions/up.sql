-- A carer's commission invoice bills a period (seed 004): each approval of hours leaves its
-- commission here, pending, and the period's run issues one invoice per carer over them (one
-- line per approval, whatever the placement). `location` and `carer` are the agency's and the
-- carer's data as the approval announced them (JSON: the event's `LocationRef` and the carer as
-- a `PartyRef`); the run bills on the latest. `invoice_id` is set when an invoice bills it.
CREATE TABLE agency_commissions (
    approval_id TEXT PRIMARY KEY,
    location_id TEXT NOT NULL,
    location TEXT NOT NULL,
    carer_id TEXT NOT NULL,
    carer TEXT NOT NULL,
    timesheet_id TEXT NOT NULL,
    placement_reference TEXT NOT NULL,
    line_id TEXT NOT NULL,
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    performed_at TIMESTAMP NOT NULL,
    hours TEXT NOT NULL,
    currency TEXT NOT NULL,
    hours_value_minor BIGINT NOT NULL,
    commission_minor BIGINT NOT NULL,
    invoice_date DATE NOT NULL,
    created_at TIMESTAMP NOT NULL,
    invoice_id TEXT REFERENCES invoices (id)
);
CREATE INDEX agency_commissions_pending ON agency_commissions (location_id, carer_id, invoice_date)
    WHERE invoice_id IS NULL;
CREATE INDEX agency_commissions_invoice ON agency_commissions (invoice_id);
-- A commission invoice over a period comes from no single approval or timesheet.
ALTER TABLE agency_invoices ALTER COLUMN approval_id DROP NOT NULL;
ALTER TABLE agency_invoices ALTER COLUMN timesheet_id DROP NOT NULL;
