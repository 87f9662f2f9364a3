-- What settlement learns from events that can arrive before the events they follow (two
-- consumers or replicas apply a queue's events concurrently; a retried event comes back later).

-- Invoices a credit note cancelled. A credit note applied before its invoice's `invoice.issued`
-- leaves this row behind, and the invoice's lines are then stored as no longer billed.
CREATE TABLE credited_invoices (
    invoice_id TEXT PRIMARY KEY,
    credit_note_id TEXT NOT NULL,
    settlement_id TEXT NOT NULL,
    credited_at TIMESTAMP NOT NULL
);

-- Episodes accounts cancelled (a final status). A consumption recorded before the cancellation
-- but applied after it joins the episode's cancelled settlement instead of opening a new one.
CREATE TABLE cancelled_episodes (
    episode_id TEXT PRIMARY KEY,
    reason TEXT,
    cancelled_at TIMESTAMP NOT NULL
);

-- When the coverages a care record bills to were current (the event that brought them): an older
-- coverage or care-record event applied late does not overwrite newer coverages.
ALTER TABLE care_records ADD COLUMN coverages_at TIMESTAMP;

-- Each patient's newest coverages as coverage events told them: a settlement or care record
-- made from an event written before a coverage change, but applied after it, takes these.
CREATE TABLE patient_coverages (
    patient_id TEXT PRIMARY KEY,
    coverages TEXT NOT NULL,
    coverages_at TIMESTAMP NOT NULL
);
