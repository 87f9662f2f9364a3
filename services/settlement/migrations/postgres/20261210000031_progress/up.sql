-- Settlements whose workflow state (status, total, assignee) changed since it was last
-- announced: every write of a settlement's header marks it here, in its own transaction, and
-- the progress publisher turns the marks into `settlement.changed` events and removes them.
-- `change_seq` grows with every write of a settlement: the events carry it so that a consumer
-- keeps the newest state whatever order they arrive in.
ALTER TABLE settlements ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
CREATE TABLE settlement_changes (
    settlement_id TEXT PRIMARY KEY,
    marks BIGINT NOT NULL
);
-- What was open when this arrived is announced once, so dashboards start complete.
INSERT INTO settlement_changes (settlement_id, marks)
SELECT id, 1 FROM settlements WHERE status NOT IN ('invoiced', 'cancelled');
