-- Invoicing rules (seed 003): invoice contexts, rule versions (never edited in place: a change is
-- a new version; `current` marks the latest; `rule_id` stays the same across versions), and the institution x rule activation matrix.
CREATE TABLE invoice_contexts (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    party TEXT NOT NULL,
    payer_code TEXT,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO invoice_contexts (code, name, party, payer_code, created_at) VALUES
    ('beneficiary', 'Beneficiary', 'patient', NULL, CURRENT_TIMESTAMP),
    ('insurance', 'Insurance', 'payer', NULL, CURRENT_TIMESTAMP),
    ('public_authority', 'Public authority', 'payer', NULL, CURRENT_TIMESTAMP);

CREATE TABLE invoicing_rules (
    rule_id TEXT NOT NULL,
    code TEXT NOT NULL,
    version INTEGER NOT NULL,
    current BOOLEAN NOT NULL,
    definition TEXT NOT NULL,
    source TEXT NOT NULL,
    invoice_context TEXT NOT NULL,
    service_group TEXT,
    active_from DATE NOT NULL,
    inactive_from DATE,
    reason TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (code, version)
);
CREATE INDEX invoicing_rules_current ON invoicing_rules (current, rule_id);

CREATE TABLE invoicing_rule_activations (
    location_code TEXT NOT NULL,
    rule_code TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    changed_by TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (location_code, rule_code)
);
