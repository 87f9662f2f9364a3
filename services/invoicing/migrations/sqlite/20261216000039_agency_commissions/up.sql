-- A carer's commission invoice bills a period (seed 004); see the PostgreSQL migration of the
-- same name. SQLite cannot drop a NOT NULL, so `agency_invoices` is rebuilt (nothing refers to
-- it).
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
CREATE TABLE agency_invoices_new (
    invoice_id TEXT PRIMARY KEY REFERENCES invoices (id),
    purpose TEXT NOT NULL,
    approval_id TEXT,
    timesheet_id TEXT,
    carer_id TEXT NOT NULL,
    placement_reference TEXT NOT NULL,
    note TEXT,
    payee TEXT,
    series_prefix TEXT,
    UNIQUE (approval_id, purpose)
);
INSERT INTO agency_invoices_new (invoice_id, purpose, approval_id, timesheet_id, carer_id, placement_reference, note, payee, series_prefix)
SELECT invoice_id, purpose, approval_id, timesheet_id, carer_id, placement_reference, note, payee, series_prefix FROM agency_invoices;
DROP TABLE agency_invoices;
ALTER TABLE agency_invoices_new RENAME TO agency_invoices;
