-- Layouts: how a location's documents look, versioned. A layout's selector (location, and
-- optionally recipient kind, payer and document type) never changes; its definition (language,
-- font, colours, logo, fields, texts) gets a new version on every change, and old versions are
-- kept, so a document renders with the version current when it was issued.
CREATE TABLE layouts (
    code TEXT PRIMARY KEY,
    location_code TEXT NOT NULL,
    recipient_kind TEXT,
    payer_code TEXT,
    document_type TEXT,
    version BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX layouts_selector ON layouts (
    location_code, COALESCE(recipient_kind, ''), COALESCE(payer_code, ''), COALESCE(document_type, '')
);
CREATE TABLE layout_versions (
    code TEXT NOT NULL,
    version BIGINT NOT NULL,
    definition TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (code, version)
);
