-- Care records (seed 003 invoicing sources: stays, absences, contracts, manual entries,
-- evaluations, gastro and ambulatory lines) and every version of each. `details` is the
-- record's JSON; `start_date`/`end_date` repeat its span (end open when NULL) so that overlap
-- checks are plain SQL.
CREATE TABLE care_records (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    location_id TEXT NOT NULL REFERENCES locations (id),
    kind TEXT NOT NULL,
    version BIGINT NOT NULL,
    cancelled BOOLEAN NOT NULL,
    details TEXT NOT NULL,
    start_date DATE NOT NULL,
    end_date DATE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX care_records_location_patient ON care_records (location_id, patient_id, kind);
CREATE INDEX care_records_patient ON care_records (patient_id, id);

CREATE TABLE care_record_versions (
    record_id TEXT NOT NULL REFERENCES care_records (id),
    version BIGINT NOT NULL,
    details TEXT NOT NULL,
    cancelled BOOLEAN NOT NULL,
    reason TEXT,
    changed_by TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (record_id, version)
);
