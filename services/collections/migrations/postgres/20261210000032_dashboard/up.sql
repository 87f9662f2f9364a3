-- The dashboard's read model (GET /v1/dashboard), kept from events and from this service's own
-- changes, so that a request adds up a few rows instead of every invoice.

-- Where each settlement stands, as the settlement service last announced it
-- (carebill.settlement.settlement.changed.v1); the highest sequence wins.
CREATE TABLE dashboard_settlements (
    settlement_id TEXT PRIMARY KEY,
    number TEXT NOT NULL,
    location_code TEXT NOT NULL,
    payer_code TEXT,
    status TEXT NOT NULL,
    currency TEXT,
    total_minor BIGINT NOT NULL,
    assigned_to TEXT,
    status_since TIMESTAMP NOT NULL,
    sequence BIGINT NOT NULL
);
CREATE INDEX dashboard_settlements_status ON dashboard_settlements (status, location_code);

-- Money per location, payer ('' for what patients owe), currency and month: what was billed
-- (by issue date), and what adjustments, credit notes, payments applied and write-offs changed
-- (by the month they were recorded). A cancelled invoice counts as credited in full.
CREATE TABLE dashboard_months (
    location_code TEXT NOT NULL,
    payer_code TEXT NOT NULL,
    currency TEXT NOT NULL,
    month DATE NOT NULL,
    invoices BIGINT NOT NULL,
    billed_minor BIGINT NOT NULL,
    adjusted_minor BIGINT NOT NULL,
    credited_minor BIGINT NOT NULL,
    collected_minor BIGINT NOT NULL,
    written_off_minor BIGINT NOT NULL,
    PRIMARY KEY (location_code, payer_code, currency, month)
);

-- What receivables still owe (open or partially paid) per location, payer, currency and due
-- date: overdue on a day is the sum of what is due before it.
CREATE TABLE dashboard_due (
    location_code TEXT NOT NULL,
    payer_code TEXT NOT NULL,
    currency TEXT NOT NULL,
    due_date DATE NOT NULL,
    owed_minor BIGINT NOT NULL,
    PRIMARY KEY (location_code, payer_code, currency, due_date)
);

-- The locations' names, as invoices carry them.
CREATE TABLE dashboard_locations (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

-- What is there already: billed by issue month, the rest by the month of the last change.
INSERT INTO dashboard_months (location_code, payer_code, currency, month, invoices,
    billed_minor, adjusted_minor, credited_minor, collected_minor, written_off_minor)
SELECT location_code, COALESCE(payer_code, ''), currency, CAST(date_trunc('month', issue_date) AS DATE), COUNT(*),
    SUM(total_minor), 0, 0, 0, 0
FROM receivables WHERE true GROUP BY location_code, COALESCE(payer_code, ''), currency, CAST(date_trunc('month', issue_date) AS DATE);
INSERT INTO dashboard_months (location_code, payer_code, currency, month, invoices,
    billed_minor, adjusted_minor, credited_minor, collected_minor, written_off_minor)
SELECT location_code, COALESCE(payer_code, ''), currency, CAST(date_trunc('month', updated_at) AS DATE), 0, 0,
    SUM(adjusted_minor),
    SUM(CASE WHEN status = 'cancelled' THEN total_minor + adjusted_minor ELSE credited_minor END),
    SUM(CASE WHEN status = 'cancelled' THEN 0 ELSE paid_minor END),
    SUM(CASE WHEN status = 'cancelled' THEN 0 ELSE written_off_minor END)
FROM receivables WHERE true GROUP BY location_code, COALESCE(payer_code, ''), currency, CAST(date_trunc('month', updated_at) AS DATE)
ON CONFLICT (location_code, payer_code, currency, month) DO UPDATE SET
    adjusted_minor = excluded.adjusted_minor,
    credited_minor = excluded.credited_minor,
    collected_minor = excluded.collected_minor,
    written_off_minor = excluded.written_off_minor;
INSERT INTO dashboard_due (location_code, payer_code, currency, due_date, owed_minor)
SELECT location_code, COALESCE(payer_code, ''), currency, due_date,
    SUM(total_minor + adjusted_minor - credited_minor - paid_minor - written_off_minor)
FROM receivables WHERE status IN ('open', 'partially_paid')
GROUP BY location_code, COALESCE(payer_code, ''), currency, due_date;
INSERT INTO dashboard_locations (code, name)
SELECT DISTINCT location_code, location_code FROM receivables;
