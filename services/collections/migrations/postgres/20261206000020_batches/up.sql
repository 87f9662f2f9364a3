-- Invoice batches invoicing sent to collections (carebill.invoicing.batch.sent.v1), each kept
-- once with its documents. A receivable's batch is found through batch_documents when read,
-- never stamped on the receivable: a batch that arrives before some of its invoices shows them
-- once they come, and a replayed batch changes nothing.
CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL,
    location_id TEXT NOT NULL,
    location_code TEXT NOT NULL,
    payer_code TEXT,
    currency TEXT NOT NULL,
    invoiced_minor BIGINT NOT NULL,
    credited_minor BIGINT NOT NULL,
    document_count BIGINT NOT NULL,
    invoice_count BIGINT NOT NULL,
    credit_note_count BIGINT NOT NULL,
    sent_by TEXT NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX batches_location_code ON batches (location_code);
CREATE INDEX batches_payer_code ON batches (payer_code);

-- The documents of each batch: an invoice (its receivable is the one with this invoice_id) or
-- a credit note (counted only: credit_note.issued already reduced or cancelled its invoice).
-- A document is in at most one batch, as invoicing keeps it.
CREATE TABLE batch_documents (
    document_id TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL REFERENCES batches (id),
    kind TEXT NOT NULL,
    number TEXT NOT NULL,
    total_minor BIGINT NOT NULL
);
CREATE INDEX batch_documents_batch ON batch_documents (batch_id);
