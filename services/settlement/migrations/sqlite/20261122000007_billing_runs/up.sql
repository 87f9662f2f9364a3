-- Periodic billing (issue 4): service prices qualified for invoicing rules, settlement's copy of
-- accounts' care records, and committed billing runs with their lines.
ALTER TABLE prices ADD COLUMN beneficiary_kind TEXT;
ALTER TABLE prices ADD COLUMN object_type TEXT;
ALTER TABLE prices ADD COLUMN care_level TEXT;
-- A package price: the codes it includes (JSON list), priced at zero where the package is billed.
ALTER TABLE prices ADD COLUMN components TEXT NOT NULL DEFAULT '[]';

-- The highest version seen of each care record (carebill.accounts.care_record.changed.v1).
CREATE TABLE care_records (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    location_id TEXT NOT NULL,
    location_code TEXT NOT NULL,
    kind TEXT NOT NULL,
    version BIGINT NOT NULL,
    cancelled BOOLEAN NOT NULL,
    details TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX care_records_location ON care_records (location_code, patient_id);

-- One committed run per location and month; its lines are final (later changes come as
-- correction lines of later runs).
CREATE TABLE billing_runs (
    id TEXT PRIMARY KEY,
    location_code TEXT NOT NULL,
    period TEXT NOT NULL,
    beneficiaries INTEGER NOT NULL,
    care_records INTEGER NOT NULL,
    line_count INTEGER NOT NULL,
    totals TEXT NOT NULL,
    problems TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (location_code, period)
);

CREATE TABLE billing_run_lines (
    run_id TEXT NOT NULL REFERENCES billing_runs (id),
    line_no INTEGER NOT NULL,
    location_code TEXT NOT NULL,
    period TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    rule_code TEXT NOT NULL,
    context TEXT NOT NULL,
    correction BOOLEAN NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (run_id, line_no)
);
CREATE INDEX billing_run_lines_patient ON billing_run_lines (location_code, patient_id);

-- Business conditions (seed 000): the organisation's condition set, one row per version.
CREATE TABLE condition_sets (
    version INTEGER PRIMARY KEY,
    definition TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Settlement management (seed 000): billers with their skills, and how new settlements are
-- assigned (one row).
CREATE TABLE billers (
    subject TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    locations TEXT NOT NULL,
    payers TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE assignment_policy (
    id INTEGER PRIMARY KEY,
    mode TEXT NOT NULL,
    last_assigned TEXT
);
CREATE INDEX settlements_assigned ON settlements (assigned_to, status);

-- Coverage terms, widened: a cap per episode and the service groups that need a
-- pre-authorization.
ALTER TABLE coverage_terms ADD COLUMN cap_per_episode_minor BIGINT;
ALTER TABLE coverage_terms ADD COLUMN preauthorization_groups TEXT NOT NULL DEFAULT '[]';
