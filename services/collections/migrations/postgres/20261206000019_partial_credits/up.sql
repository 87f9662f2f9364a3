-- Partial credit notes: an invoice reduced, not cancelled. `credited_minor` is what they took off
-- the receivable's total in all (outstanding = total - credited - paid); a full credit note
-- still cancels the receivable (its earlier partial credits stay recorded).
ALTER TABLE receivables ADD COLUMN credited_minor BIGINT NOT NULL DEFAULT 0;

-- Every partial credit note as it came (once each), with what it left its invoice billing: one
-- that arrives before its invoice's issue event is applied when the receivable is created.
CREATE TABLE partial_credit_notes (
    credit_note_id TEXT PRIMARY KEY,
    invoice_id TEXT NOT NULL,
    credit_note_number TEXT NOT NULL,
    currency TEXT NOT NULL,
    credited_minor BIGINT NOT NULL,
    remaining_minor BIGINT NOT NULL,
    reason TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX partial_credit_notes_invoice ON partial_credit_notes (invoice_id);
