-- What a payer's 835 decided of each invoice it answered (issue 18, C8), as collections announced
-- it (`remittance.posted`): the remitted claim whole (JSON: paid, adjustments with their lines,
-- the lines), kept once per event. A secondary claim of the same settlement carries the latest
-- unless a reversal (CLP02 22) took it back (2320/2330/2430).
CREATE TABLE claim_adjudications (
    id TEXT PRIMARY KEY,
    invoice_id TEXT NOT NULL,
    remittance_id TEXT NOT NULL,
    status_code TEXT NOT NULL,
    paid_on DATE NOT NULL,
    claim TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX claim_adjudications_invoice ON claim_adjudications (invoice_id, created_at);
