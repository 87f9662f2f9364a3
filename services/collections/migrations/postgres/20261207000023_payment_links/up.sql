-- Online payment links (issue 19): a checkout session at the payment provider for what a
-- receivable (or a party's balance in one currency) owes, and what the provider's webhooks
-- said about it. A link is paid at most once: its status changes only from 'open', under its
-- row lock; each provider event is taken once (its id is the key of payment_webhook_events).
CREATE TABLE payment_links (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    session_id TEXT NOT NULL,
    url TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    -- The receivable paid by the link; NULL for a link for a party's balance.
    receivable_id TEXT,
    invoice_id TEXT,
    invoice_number TEXT,
    party_kind TEXT NOT NULL,
    party_id TEXT NOT NULL,
    -- Scope: the receivable's location (NULL for a balance link) and the payer's code.
    location_code TEXT,
    payer_code TEXT,
    status TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    paid_at TIMESTAMP,
    paid_minor BIGINT,
    payment_id TEXT,
    provider_reference TEXT,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX payment_links_session ON payment_links (provider, session_id);
CREATE UNIQUE INDEX payment_links_payment ON payment_links (payment_id);
CREATE INDEX payment_links_receivable ON payment_links (receivable_id);
CREATE INDEX payment_links_party ON payment_links (party_kind, party_id);

CREATE TABLE payment_webhook_events (
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    session_id TEXT,
    link_id TEXT,
    outcome TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (provider, event_id)
);
