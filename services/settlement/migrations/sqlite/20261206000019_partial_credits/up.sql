-- Partial credit notes: an invoice reduced, not cancelled. Its lines stay billed (active), for
-- less: `credited_minor` is how much of `amount_minor` credit notes took back (what the line still
-- bills is the difference). Corrections keep comparing shares with `amount_minor`, what was
-- invoiced: a partially credited line is not billed differently.
ALTER TABLE settlement_billing ADD COLUMN credited_minor BIGINT NOT NULL DEFAULT 0;

-- The lines of partial credit notes as they came (what each left its invoice line billing), so
-- that one applied before its invoice's `invoice.issued` (see 20261123000013_early_events) is
-- applied when the invoice's lines are stored.
CREATE TABLE partial_credit_lines (
    credit_note_id TEXT NOT NULL,
    consumption_id TEXT NOT NULL,
    invoice_id TEXT NOT NULL,
    remaining_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    PRIMARY KEY (credit_note_id, consumption_id)
);
CREATE INDEX partial_credit_lines_invoice ON partial_credit_lines (invoice_id);
