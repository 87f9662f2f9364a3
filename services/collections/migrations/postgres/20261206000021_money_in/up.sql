-- Money in and out beyond payments (issue 19): write-offs take what is left off a receivable
-- (outstanding = total - credited - paid - written_off); refunds pay a payment's credit back
-- (credit = amount - allocated - refunded); a prepayment is a payment of kind 'prepayment',
-- perhaps for an episode, applied to that party's invoices as they arrive; a payment may be
-- made of several tenders adding up to it.
ALTER TABLE receivables ADD COLUMN written_off_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN kind TEXT NOT NULL DEFAULT 'payment';
ALTER TABLE payments ADD COLUMN episode_id TEXT;

CREATE TABLE payment_tenders (
    payment_id TEXT NOT NULL,
    line_no BIGINT NOT NULL,
    method TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    reference TEXT,
    PRIMARY KEY (payment_id, line_no)
);

CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    method TEXT NOT NULL,
    reference TEXT,
    reason TEXT NOT NULL,
    refunded_on DATE NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id);

CREATE TABLE write_offs (
    id TEXT PRIMARY KEY,
    receivable_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    reason TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX write_offs_receivable ON write_offs (receivable_id);

-- The most a small-balance write-off may take, per currency (none: no small-balance write-offs
-- in that currency).
CREATE TABLE write_off_thresholds (
    currency TEXT PRIMARY KEY,
    max_minor BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
