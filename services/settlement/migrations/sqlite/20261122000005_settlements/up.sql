-- Settlements: an episode's consumptions priced and split. The header holds the workflow state;
-- line revisions hold every version of every line (a revision is valid from one version until
-- the version that replaced it), so any version can be read back and two versions compared
-- without copying unchanged lines.
CREATE TABLE settlements (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    episode_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    parent_id TEXT,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    location_id TEXT NOT NULL,
    location_code TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    episode TEXT NOT NULL,
    coverages TEXT NOT NULL,
    coverages_at TIMESTAMP NOT NULL,
    currency TEXT,
    total_minor BIGINT NOT NULL,
    line_count INTEGER NOT NULL,
    issue_count INTEGER NOT NULL,
    pending_voids INTEGER NOT NULL,
    approved_version INTEGER,
    invoiced_version INTEGER,
    assigned_to TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX settlements_episode ON settlements (episode_id);
CREATE INDEX settlements_patient ON settlements (patient_id);
CREATE INDEX settlements_status ON settlements (status, id);

CREATE TABLE settlement_versions (
    settlement_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    cause TEXT NOT NULL,
    reason TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    currency TEXT,
    total_minor BIGINT NOT NULL,
    line_count INTEGER NOT NULL,
    issue_count INTEGER NOT NULL,
    PRIMARY KEY (settlement_id, version)
);

CREATE TABLE settlement_lines (
    settlement_id TEXT NOT NULL,
    consumption_id TEXT NOT NULL,
    from_version INTEGER NOT NULL,
    to_version INTEGER,
    data TEXT NOT NULL,
    PRIMARY KEY (settlement_id, consumption_id, from_version)
);

-- What each line is computed from: the consumption as recorded, and a biller's overrides.
CREATE TABLE settlement_inputs (
    consumption_id TEXT PRIMARY KEY,
    settlement_id TEXT NOT NULL,
    performed_at TIMESTAMP NOT NULL,
    payload TEXT NOT NULL,
    voided BOOLEAN NOT NULL,
    manual_unit_price_minor BIGINT,
    manual_currency TEXT,
    excluded BOOLEAN NOT NULL,
    override_reason TEXT
);
CREATE INDEX settlement_inputs_settlement ON settlement_inputs (settlement_id);

CREATE TABLE settlement_status_changes (
    id TEXT PRIMARY KEY,
    settlement_id TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    version INTEGER NOT NULL,
    reason TEXT,
    changed_by TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL
);
CREATE INDEX settlement_status_changes_settlement ON settlement_status_changes (settlement_id);

CREATE TABLE settlement_observations (
    id TEXT PRIMARY KEY,
    settlement_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    consumption_id TEXT,
    text TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    resolved_version INTEGER
);
CREATE INDEX settlement_observations_settlement ON settlement_observations (settlement_id);

-- What invoicing billed, per consumption and party (from its events): a correction may not
-- approve a share that differs from what an active invoice bills, and a voided line still on an
-- active invoice blocks approval until that invoice is credited.
CREATE TABLE settlement_billing (
    invoice_id TEXT NOT NULL,
    consumption_id TEXT NOT NULL,
    settlement_id TEXT NOT NULL,
    party_key TEXT NOT NULL,
    invoice_number TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    PRIMARY KEY (invoice_id, consumption_id)
);
CREATE INDEX settlement_billing_settlement ON settlement_billing (settlement_id);
CREATE INDEX settlement_billing_consumption ON settlement_billing (consumption_id);
