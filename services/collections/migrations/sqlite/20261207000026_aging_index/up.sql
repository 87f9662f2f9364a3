-- The aging report and the reminder run read every owing receivable: a covering index lets
-- SQLite answer them from the index instead of the wide rows (100,000 receivables: about 3x
-- faster). PostgreSQL scans fast enough without it (see docs/development/benchmarks.md).
CREATE INDEX receivables_aging ON receivables (status, issue_date, due_date, currency,
    location_code, payer_code, patient_id, total_minor, adjusted_minor, credited_minor,
    paid_minor, written_off_minor, invoice_id);
