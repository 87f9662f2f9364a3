-- Accounts: locations, payers, patients, coverages, episodes, the service catalog, consumptions.
-- Portable types only: ids and JSON as TEXT, naive UTC TIMESTAMP, DATE, BIGINT, BOOLEAN.
CREATE TABLE locations (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    tax_id TEXT,
    time_zone TEXT NOT NULL,
    currency TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE payers (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    tax_id TEXT,
    payer_identifier TEXT,
    identifiers TEXT NOT NULL,
    address TEXT NOT NULL,
    contact TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE patients (
    id TEXT PRIMARY KEY,
    family_name TEXT NOT NULL,
    given_name TEXT NOT NULL,
    birth_date DATE,
    sex TEXT NOT NULL,
    beneficiary_kind TEXT NOT NULL,
    flags TEXT NOT NULL,
    identifiers TEXT NOT NULL,
    address TEXT NOT NULL,
    contact TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- One row per patient identifier: lookup by (system, value) and uniqueness across patients.
CREATE TABLE patient_identifiers (
    system TEXT NOT NULL,
    value TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    PRIMARY KEY (system, value)
);
CREATE INDEX patient_identifiers_patient ON patient_identifiers (patient_id);

CREATE TABLE coverages (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    payer_id TEXT NOT NULL REFERENCES payers (id),
    policy_number TEXT NOT NULL,
    plan_code TEXT,
    priority INTEGER NOT NULL,
    valid_from DATE,
    valid_to DATE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX coverages_patient ON coverages (patient_id, priority);

CREATE TABLE episodes (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    location_id TEXT NOT NULL REFERENCES locations (id),
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    attending_practitioner TEXT,
    opened_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (location_id, number)
);
CREATE INDEX episodes_patient ON episodes (patient_id, id);
CREATE INDEX episodes_location ON episodes (location_id, id);

CREATE TABLE episode_status_changes (
    id TEXT PRIMARY KEY,
    episode_id TEXT NOT NULL REFERENCES episodes (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    reason TEXT,
    actor TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX episode_status_changes_episode ON episode_status_changes (episode_id, id);

CREATE TABLE catalog_items (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    service_group TEXT NOT NULL,
    kind TEXT NOT NULL,
    unit TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE consumptions (
    id TEXT PRIMARY KEY,
    episode_id TEXT NOT NULL REFERENCES episodes (id),
    patient_id TEXT NOT NULL,
    location_id TEXT NOT NULL,
    catalog_item_id TEXT NOT NULL REFERENCES catalog_items (id),
    code TEXT NOT NULL,
    service_group TEXT NOT NULL,
    kind TEXT NOT NULL,
    quantity TEXT NOT NULL,
    unit TEXT NOT NULL,
    performed_at TIMESTAMP NOT NULL,
    performed_by TEXT,
    ordering_practitioner TEXT,
    attending_practitioner TEXT,
    source_system TEXT,
    external_id TEXT,
    attributes TEXT NOT NULL,
    input_digest TEXT NOT NULL,
    status TEXT NOT NULL,
    void_reason TEXT,
    voided_by TEXT,
    voided_at TIMESTAMP,
    recorded_by TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    UNIQUE (source_system, external_id)
);
CREATE INDEX consumptions_episode ON consumptions (episode_id, id);
CREATE INDEX consumptions_patient ON consumptions (patient_id, id);
CREATE INDEX consumptions_location ON consumptions (location_id, id);
CREATE INDEX consumptions_performed ON consumptions (performed_at);
