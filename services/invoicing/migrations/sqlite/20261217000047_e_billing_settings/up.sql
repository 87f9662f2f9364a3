-- How claims go to each payer (X12 identities, submitter and receiver, filing indicator, test or
-- production, the payer's extra requirements), JSON, one row per version; the highest is current.
CREATE TABLE e_billing_settings (
    payer_code TEXT NOT NULL,
    version BIGINT NOT NULL,
    data TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (payer_code, version)
);
