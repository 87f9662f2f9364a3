-- What comes back for e-billings (999 acknowledgements, 277CA claim acknowledgements, 277 claim
-- status responses), each kept once by its SHA-256 with what it said of each claim
-- (`results`, JSON), and each claim's history of statuses.
CREATE TABLE e_billing_responses (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    sender_id TEXT NOT NULL,
    interchange_control_number TEXT NOT NULL,
    results TEXT NOT NULL,
    matched_count INTEGER NOT NULL,
    unmatched_count INTEGER NOT NULL,
    body TEXT NOT NULL,
    received_by TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);

CREATE TABLE e_billing_claim_events (
    id TEXT PRIMARY KEY,
    claim_id TEXT NOT NULL REFERENCES e_billing_claims (id),
    response_id TEXT NOT NULL REFERENCES e_billing_responses (id),
    status TEXT NOT NULL,
    detail TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX e_billing_claim_events_claim ON e_billing_claim_events (claim_id, id);
