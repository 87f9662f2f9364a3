-- The X12 files of a sent e-billing, frozen when its 837 is first taken: the 837 and the 276
-- that asks about its claims (downloading again gives the same bytes). `transactions` (JSON)
-- says which claims each group and transaction holds, for the 999s that come back. Envelope
-- control numbers come from one counter per submitter (ISA05:ISA06), so they are unique and
-- increasing for that submitter (`x12_control_numbers.id` is the submitter key).
CREATE TABLE e_billing_files (
    e_billing_id TEXT NOT NULL REFERENCES e_billings (id),
    kind TEXT NOT NULL,
    submitter_key TEXT NOT NULL,
    interchange_control_number BIGINT NOT NULL,
    transactions TEXT NOT NULL,
    body TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (e_billing_id, kind)
);
CREATE UNIQUE INDEX e_billing_files_control ON e_billing_files (submitter_key, interchange_control_number);

CREATE TABLE x12_control_numbers (
    id TEXT PRIMARY KEY,
    last_interchange BIGINT NOT NULL,
    last_group BIGINT NOT NULL
);
