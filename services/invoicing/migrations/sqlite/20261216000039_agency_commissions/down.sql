-- See the PostgreSQL migration of the same name.
UPDATE agency_invoices SET approval_id = (
        SELECT MIN(c.approval_id) FROM agency_commissions c WHERE c.invoice_id = agency_invoices.invoice_id),
    timesheet_id = (
        SELECT MIN(c.timesheet_id) FROM agency_commissions c WHERE c.invoice_id = agency_invoices.invoice_id)
    WHERE approval_id IS NULL;
DROP TABLE agency_commissions;
CREATE TABLE agency_invoices_old (
    invoice_id TEXT PRIMARY KEY REFERENCES invoices (id),
    purpose TEXT NOT NULL,
    approval_id TEXT NOT NULL,
    timesheet_id TEXT NOT NULL,
    carer_id TEXT NOT NULL,
    placement_reference TEXT NOT NULL,
    note TEXT,
    payee TEXT,
    series_prefix TEXT,
    UNIQUE (approval_id, purpose)
);
INSERT INTO agency_invoices_old (invoice_id, purpose, approval_id, timesheet_id, carer_id, placement_reference, note, payee, series_prefix)
SELECT invoice_id, purpose, approval_id, timesheet_id, carer_id, placement_reference, note, payee, series_prefix FROM agency_invoices WHERE approval_id IS NOT NULL;
DROP TABLE agency_invoices;
ALTER TABLE agency_invoices_old RENAME TO agency_invoices;
