-- Payment reminders (issue 19): who a party is reached at and whether it opted out, reminder
-- policies (levels, channels, templates, fees, quiet hours), the runs that decide what is due,
-- and every notice with its outcome. A receivable gets each level at most once.
CREATE TABLE reminder_contacts (
    party_kind TEXT NOT NULL,
    party_id TEXT NOT NULL,
    name TEXT,
    email TEXT,
    phone TEXT,
    language TEXT,
    opted_out BOOLEAN NOT NULL DEFAULT FALSE,
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (party_kind, party_id)
);

CREATE TABLE reminder_policies (
    code TEXT PRIMARY KEY,
    party_kind TEXT NOT NULL,
    location_code TEXT NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX reminder_policies_scope ON reminder_policies (party_kind, location_code);

CREATE TABLE reminder_runs (
    id TEXT PRIMARY KEY,
    as_of DATE NOT NULL,
    location_code TEXT,
    considered BIGINT NOT NULL,
    queued BIGINT NOT NULL,
    skipped TEXT NOT NULL,
    started_by TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL
);

CREATE TABLE reminder_notices (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    receivable_id TEXT NOT NULL,
    invoice_id TEXT NOT NULL,
    invoice_number TEXT NOT NULL,
    location_code TEXT NOT NULL,
    location_time_zone TEXT NOT NULL,
    payer_code TEXT,
    party_kind TEXT NOT NULL,
    party_id TEXT NOT NULL,
    policy_code TEXT NOT NULL,
    policy_version BIGINT NOT NULL,
    level BIGINT NOT NULL,
    level_name TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    language TEXT NOT NULL,
    subject TEXT,
    body TEXT NOT NULL,
    currency TEXT NOT NULL,
    outstanding_minor BIGINT NOT NULL,
    fee_minor BIGINT NOT NULL,
    interest_minor BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    not_before TIMESTAMP NOT NULL,
    last_error TEXT,
    provider_id TEXT,
    sent_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX reminder_notices_level ON reminder_notices (receivable_id, level);
CREATE INDEX reminder_notices_due ON reminder_notices (status, not_before);
CREATE INDEX reminder_notices_run ON reminder_notices (run_id);
