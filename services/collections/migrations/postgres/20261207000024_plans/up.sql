-- Getting paid (issue 19): payment plans, disputes and adjustments.
--
-- An adjustment raises (fee, interest) or lowers (correction) what a receivable owes, signed:
-- outstanding = total + adjusted - credited - paid - written_off, never below zero.
ALTER TABLE receivables ADD COLUMN adjusted_minor BIGINT NOT NULL DEFAULT 0;

CREATE TABLE receivable_adjustments (
    id TEXT PRIMARY KEY,
    receivable_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    reason TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX receivable_adjustments_receivable ON receivable_adjustments (receivable_id);

-- A dispute is open while resolved_at is NULL; at most one open per receivable. Dunning sends
-- nothing for a receivable with an open dispute.
CREATE TABLE receivable_disputes (
    id TEXT PRIMARY KEY,
    receivable_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    opened_at TIMESTAMP NOT NULL,
    opened_by TEXT NOT NULL,
    resolved_at TIMESTAMP,
    resolved_by TEXT,
    resolution TEXT
);
CREATE INDEX receivable_disputes_receivable ON receivable_disputes (receivable_id);
CREATE UNIQUE INDEX receivable_disputes_open ON receivable_disputes (receivable_id) WHERE resolved_at IS NULL;

-- A payment plan: what one party owes in one currency on some receivables, split into
-- installments. status: active, completed, broken, cancelled. Dunning sends nothing for a
-- receivable in a plan whose status is 'active'.
CREATE TABLE payment_plans (
    id TEXT PRIMARY KEY,
    party_kind TEXT NOT NULL,
    party_id TEXT NOT NULL,
    payer_code TEXT,
    currency TEXT NOT NULL,
    total_minor BIGINT NOT NULL,
    missed_allowed BIGINT NOT NULL,
    status TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    ended_as_of DATE,
    cancel_reason TEXT,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX payment_plans_party ON payment_plans (party_kind, party_id);
CREATE INDEX payment_plans_status ON payment_plans (status);

CREATE TABLE payment_plan_installments (
    plan_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    due_on DATE NOT NULL,
    amount_minor BIGINT NOT NULL,
    PRIMARY KEY (plan_id, seq)
);

-- The receivables of a plan, with what had been paid on each when the plan began: a plan's
-- installments are filled by what was paid since (derived, never kept twice).
CREATE TABLE payment_plan_receivables (
    plan_id TEXT NOT NULL,
    receivable_id TEXT NOT NULL,
    owed_at_start_minor BIGINT NOT NULL,
    paid_at_start_minor BIGINT NOT NULL,
    PRIMARY KEY (plan_id, receivable_id)
);
CREATE INDEX payment_plan_receivables_receivable ON payment_plan_receivables (receivable_id);
