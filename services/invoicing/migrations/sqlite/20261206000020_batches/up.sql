-- Batches (seed 000's batch manager): issued invoices and credit notes grouped by rule (location,
-- payer, recipient kind, document kind, currency, issue-date period) or by hand, then closed
-- (numbered in the location's batch series, totals frozen) and sent to collections. A document is
-- in at most one batch (the primary key of invoice_batch_documents).
CREATE TABLE invoice_batches (
    id TEXT PRIMARY KEY,
    number TEXT UNIQUE,
    status TEXT NOT NULL,
    location_id TEXT NOT NULL,
    location_code TEXT NOT NULL,
    payer_code TEXT,
    recipient_kind TEXT,
    document_kind TEXT,
    currency TEXT NOT NULL,
    issued_from DATE,
    issued_to DATE,
    description TEXT,
    document_count INTEGER NOT NULL,
    invoiced_minor BIGINT NOT NULL,
    credited_minor BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    closed_by TEXT,
    closed_at TIMESTAMP,
    sent_by TEXT,
    sent_at TIMESTAMP
);
CREATE INDEX invoice_batches_location ON invoice_batches (location_code, id);
CREATE INDEX invoice_batches_payer ON invoice_batches (payer_code, id);

CREATE TABLE invoice_batch_documents (
    document_id TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL REFERENCES invoice_batches (id),
    document_kind TEXT NOT NULL,
    number TEXT NOT NULL,
    total_minor BIGINT NOT NULL,
    added_at TIMESTAMP NOT NULL,
    position BIGINT NOT NULL
);
CREATE INDEX invoice_batch_documents_batch ON invoice_batch_documents (batch_id, position);
