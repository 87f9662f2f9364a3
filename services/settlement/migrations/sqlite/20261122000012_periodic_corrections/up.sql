-- A biller's correction of a periodic settlement's line (rules that allow manual correction).
CREATE TABLE periodic_corrections (
    settlement_id TEXT NOT NULL,
    line_id TEXT NOT NULL,
    unit_price_minor BIGINT,
    currency TEXT,
    excluded BOOLEAN NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (settlement_id, line_id)
);
