-- Promotional offers: prepaid bundles (the purchase is the bundle's consumption).
CREATE TABLE offers (
    code TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    bundle_code TEXT NOT NULL,
    service_codes TEXT NOT NULL,
    units TEXT NOT NULL,
    valid_days INTEGER,
    active_from DATE NOT NULL,
    inactive_from DATE,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
