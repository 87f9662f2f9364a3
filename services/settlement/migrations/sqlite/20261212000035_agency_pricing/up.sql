-- Care agencies: each approval of a carer's hours priced once (its id from accounts is the key,
-- so a redelivered approval changes nothing), with the prices as announced.
CREATE TABLE agency_pricings (
    approval_id TEXT PRIMARY KEY,
    timesheet_id TEXT NOT NULL,
    location_code TEXT NOT NULL,
    carer_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    total_minor BIGINT NOT NULL,
    commission_minor BIGINT NOT NULL,
    priced TEXT NOT NULL,
    conditions_version INTEGER,
    priced_at TIMESTAMP NOT NULL
);
