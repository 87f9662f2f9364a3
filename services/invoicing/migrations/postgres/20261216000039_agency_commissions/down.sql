-- Commission invoices over a period lose what says what they bill; they stay as invoices of
-- the first approval they bill, so that nothing refers to a missing row.
UPDATE agency_invoices SET approval_id = (
        SELECT MIN(c.approval_id) FROM agency_commissions c WHERE c.invoice_id = agency_invoices.invoice_id),
    timesheet_id = (
        SELECT MIN(c.timesheet_id) FROM agency_commissions c WHERE c.invoice_id = agency_invoices.invoice_id)
    WHERE approval_id IS NULL;
DROP TABLE agency_commissions;
DELETE FROM agency_invoices WHERE approval_id IS NULL;
ALTER TABLE agency_invoices ALTER COLUMN timesheet_id SET NOT NULL;
ALTER TABLE agency_invoices ALTER COLUMN approval_id SET NOT NULL;
