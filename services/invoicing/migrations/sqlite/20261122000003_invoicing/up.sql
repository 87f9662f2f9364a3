-- The invoicing database: numbered invoices and credit notes with their lines, the series that
-- number them, which (consumption, party) pairs are billed, and which settlement versions were
-- invoiced. Money as minor units (BIGINT) with its currency; ids and codes of other services as
-- text (event-carried, not foreign keys).

-- One gapless series per location, document kind and year; `id` is `<location_id>:<kind>:<year>`
-- so that the row can be locked by id.
CREATE TABLE invoice_series (
    id TEXT PRIMARY KEY,
    location_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    year INTEGER NOT NULL,
    last_number BIGINT NOT NULL
);

-- Settlement versions already invoiced: a second approval event for one is ignored.
CREATE TABLE invoiced_settlements (
    settlement_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    invoices INTEGER NOT NULL,
    processed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (settlement_id, version)
);

CREATE TABLE invoices (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    location_id TEXT NOT NULL,
    location_code TEXT NOT NULL,
    location_name TEXT NOT NULL,
    location_tax_id TEXT,
    location_time_zone TEXT NOT NULL,
    recipient_kind TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    payer_code TEXT,
    payer_kind TEXT,
    coverage_id TEXT,
    policy_number TEXT,
    patient_id TEXT NOT NULL,
    episode_id TEXT NOT NULL,
    episode_number TEXT NOT NULL,
    settlement_id TEXT NOT NULL,
    settlement_number TEXT NOT NULL,
    settlement_version INTEGER NOT NULL,
    currency TEXT NOT NULL,
    total_minor BIGINT NOT NULL,
    tax_total_minor BIGINT NOT NULL,
    issue_date DATE NOT NULL,
    due_date DATE NOT NULL,
    created_at TIMESTAMP NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    cancelled_at TIMESTAMP,
    credit_note_id TEXT
);
CREATE INDEX invoices_location ON invoices (location_code, id);
CREATE INDEX invoices_payer ON invoices (payer_code, id);
CREATE INDEX invoices_patient ON invoices (patient_id);
CREATE INDEX invoices_episode ON invoices (episode_id);
CREATE INDEX invoices_settlement ON invoices (settlement_id);
CREATE INDEX invoices_issue_date ON invoices (issue_date);

-- A full credit note; at most one per invoice.
CREATE TABLE credit_notes (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    invoice_id TEXT NOT NULL UNIQUE REFERENCES invoices (id),
    invoice_number TEXT NOT NULL,
    location_id TEXT NOT NULL,
    location_code TEXT NOT NULL,
    recipient_kind TEXT NOT NULL,
    payer_code TEXT,
    patient_id TEXT NOT NULL,
    settlement_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    total_minor BIGINT NOT NULL,
    tax_total_minor BIGINT NOT NULL,
    reason TEXT NOT NULL,
    reissue BOOLEAN NOT NULL,
    issue_date DATE NOT NULL,
    issued_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    issued_at TIMESTAMP NOT NULL
);
CREATE INDEX credit_notes_location ON credit_notes (location_code, id);
CREATE INDEX credit_notes_payer ON credit_notes (payer_code, id);

-- Lines of invoices and credit notes (`document_id` is either's id).
CREATE TABLE document_lines (
    document_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    consumption_id TEXT NOT NULL,
    code TEXT NOT NULL,
    description TEXT NOT NULL,
    service_group TEXT NOT NULL,
    quantity TEXT NOT NULL,
    unit TEXT NOT NULL,
    performed_at TIMESTAMP NOT NULL,
    currency TEXT NOT NULL,
    unit_price_minor BIGINT NOT NULL,
    line_amount_minor BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL,
    tax_category TEXT NOT NULL,
    tax_exemption_reason_code TEXT NOT NULL,
    tax_exemption_reason TEXT NOT NULL,
    PRIMARY KEY (document_id, position)
);

-- Which recipient each consumption is billed to. A pair is on at most one active invoice; a
-- credit note makes its invoice's pairs inactive, so they can be billed again.
CREATE TABLE billed_consumptions (
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    consumption_id TEXT NOT NULL,
    party_key TEXT NOT NULL,
    settlement_id TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    PRIMARY KEY (invoice_id, consumption_id)
);
-- An approval looks up what is billed already by its settlement (a consumption belongs to one).
CREATE INDEX billed_consumptions_settlement ON billed_consumptions (settlement_id);
CREATE UNIQUE INDEX billed_consumptions_active ON billed_consumptions (consumption_id, party_key) WHERE active;
