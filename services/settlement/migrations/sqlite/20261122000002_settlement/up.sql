-- Settlement configuration: price list entries and coverage terms. Money as minor units (BIGINT)
-- with its currency; codes of locations and payers as text (event-carried, not foreign keys).
CREATE TABLE prices (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL,
    unit_price_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    valid_from DATE NOT NULL,
    valid_to DATE,
    location_code TEXT,
    payer_code TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX prices_code ON prices (code, valid_from);

CREATE TABLE coverage_terms (
    id TEXT PRIMARY KEY,
    payer_code TEXT NOT NULL,
    plan_code TEXT NOT NULL,
    covered_percent TEXT NOT NULL,
    currency TEXT NOT NULL,
    copay_per_line_minor BIGINT,
    copay_per_episode_minor BIGINT,
    excluded_service_groups TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (payer_code, plan_code)
);
