-- Delivery of issued documents. A recipient's delivery settings (e-mail address, channel, whether
-- UBL goes along, language) are versioned like layouts, so a document renders in the language its
-- recipient had asked for when it was issued. Locations may limit when documents go out (sending
-- windows). Each issued document whose recipient asked for it gets a delivery in the issuing
-- transaction; a resend is another delivery of the same document. Every try is logged.
CREATE TABLE delivery_settings (
    party_kind TEXT NOT NULL,
    party TEXT NOT NULL,
    version BIGINT NOT NULL,
    channel TEXT NOT NULL,
    email TEXT,
    attach_ubl BOOLEAN NOT NULL,
    language TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (party_kind, party, version)
);
CREATE TABLE sending_windows (
    location_code TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    document_kind TEXT NOT NULL,
    document_id TEXT NOT NULL,
    document_number TEXT NOT NULL,
    location_code TEXT NOT NULL,
    payer_code TEXT,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    attach_ubl BOOLEAN NOT NULL,
    resend_of TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    not_before TIMESTAMP NOT NULL,
    claimed_until TIMESTAMP,
    last_error TEXT,
    message_id TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE UNIQUE INDEX deliveries_first ON deliveries (document_kind, document_id) WHERE resend_of IS NULL;
CREATE INDEX deliveries_document ON deliveries (document_id);
CREATE INDEX deliveries_due ON deliveries (status, not_before);
CREATE TABLE delivery_attempts (
    delivery_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at TIMESTAMP NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
CREATE TABLE portal_links (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    document_kind TEXT NOT NULL,
    document_id TEXT NOT NULL,
    location_code TEXT NOT NULL,
    delivery_id TEXT,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    uses BIGINT NOT NULL,
    last_used_at TIMESTAMP,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX portal_links_document ON portal_links (document_id);
