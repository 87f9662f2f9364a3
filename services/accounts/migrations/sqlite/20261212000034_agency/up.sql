-- Care agencies (seed 004): carers with their self-billing agreements, placements of a carer
-- with a client, and the hours a carer registers, grouped in a timesheet per placement and
-- week or month, with the links a client approves them by. Portable types only.
CREATE TABLE carers (
    id TEXT PRIMARY KEY,
    location_id TEXT NOT NULL REFERENCES locations (id),
    location_code TEXT NOT NULL,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    email TEXT,
    billing TEXT NOT NULL,
    vat TEXT NOT NULL,
    agreements TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE placements (
    id TEXT PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    location_id TEXT NOT NULL REFERENCES locations (id),
    location_code TEXT NOT NULL,
    carer_id TEXT NOT NULL REFERENCES carers (id),
    client_patient_id TEXT REFERENCES patients (id),
    client_payer_id TEXT REFERENCES payers (id),
    bill_to_payer_id TEXT REFERENCES payers (id),
    valid_from DATE NOT NULL,
    valid_to DATE,
    period TEXT NOT NULL,
    currency TEXT NOT NULL,
    tariffs TEXT NOT NULL,
    commission TEXT NOT NULL,
    mediation_fee TEXT,
    approver TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX placements_carer ON placements (carer_id);

CREATE TABLE timesheets (
    id TEXT PRIMARY KEY,
    placement_id TEXT NOT NULL REFERENCES placements (id),
    carer_id TEXT NOT NULL,
    location_code TEXT NOT NULL,
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    status TEXT NOT NULL,
    submitted_at TIMESTAMP,
    approved_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (placement_id, period_start)
);
CREATE INDEX timesheets_status ON timesheets (status, period_end);

CREATE TABLE timesheet_hours (
    id TEXT PRIMARY KEY,
    timesheet_id TEXT NOT NULL REFERENCES timesheets (id),
    placement_id TEXT NOT NULL,
    carer_id TEXT NOT NULL,
    work_date DATE NOT NULL,
    start_minute INTEGER,
    end_minute INTEGER,
    minutes INTEGER NOT NULL,
    service_type TEXT NOT NULL,
    notes TEXT,
    status TEXT NOT NULL,
    dispute_reason TEXT,
    approval_id TEXT,
    source_system TEXT,
    external_id TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (source_system, external_id)
);
CREATE INDEX timesheet_hours_carer_date ON timesheet_hours (carer_id, work_date);
CREATE INDEX timesheet_hours_timesheet ON timesheet_hours (timesheet_id);

CREATE TABLE timesheet_links (
    id TEXT PRIMARY KEY,
    timesheet_id TEXT NOT NULL REFERENCES timesheets (id),
    token_hash TEXT NOT NULL UNIQUE,
    sent_to TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX timesheet_links_timesheet ON timesheet_links (timesheet_id);

-- Each client decision that approved lines; released (announced for invoicing) when the carer
-- has a self-billing agreement on its invoice date, else held with the reason until one is given.
CREATE TABLE timesheet_approvals (
    id TEXT PRIMARY KEY,
    timesheet_id TEXT NOT NULL REFERENCES timesheets (id),
    carer_id TEXT NOT NULL,
    approved_by TEXT NOT NULL,
    approved_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL,
    held_reason TEXT,
    invoice_date DATE,
    released_at TIMESTAMP
);
CREATE INDEX timesheet_approvals_timesheet ON timesheet_approvals (timesheet_id);
CREATE INDEX timesheet_approvals_held ON timesheet_approvals (carer_id, status);

-- Notices to carers and clients: the approval e-mail, and reminders of hours not submitted or
-- not approved. `dedupe_key` makes each notice at most once (per submission, per placement and
-- period); the sender claims, sends and records the outcome with retries.
CREATE TABLE agency_notices (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    location_code TEXT NOT NULL,
    placement_id TEXT NOT NULL,
    carer_id TEXT NOT NULL,
    timesheet_id TEXT,
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    not_before TIMESTAMP NOT NULL,
    last_error TEXT,
    message_id TEXT,
    sent_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX agency_notices_due ON agency_notices (status, not_before);
