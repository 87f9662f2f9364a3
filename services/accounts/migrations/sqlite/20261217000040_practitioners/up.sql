-- The practitioner registry (issue 18): who performs, orders or attends care, with the
-- identifiers claims name them by (NPI, taxonomy). Consumptions and episodes keep naming
-- practitioners by free strings; a string names the practitioner whose code, `his` identifier
-- or NPI it equals. Each identifier belongs to one practitioner (practitioner_identifiers).
CREATE TABLE practitioners (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    family_name TEXT NOT NULL,
    given_name TEXT,
    middle_name TEXT,
    suffix TEXT,
    credentials TEXT,
    npi TEXT UNIQUE,
    taxonomy TEXT,
    specialty TEXT,
    active_from DATE,
    active_to DATE,
    identifiers TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE practitioner_identifiers (
    system TEXT NOT NULL,
    value TEXT NOT NULL,
    practitioner_id TEXT NOT NULL REFERENCES practitioners (id),
    PRIMARY KEY (system, value)
);
CREATE INDEX practitioner_identifiers_practitioner ON practitioner_identifiers (practitioner_id);
