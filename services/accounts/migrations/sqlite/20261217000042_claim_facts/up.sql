-- What claims need of the catalog and the locations (issue 18): how claims bill a catalog item
-- (coding system, code, modifiers, revenue code, unit basis) and what they name a location by
-- as billing provider (NPI, taxonomy, EIN, place of service, type of bill per episode kind).
-- JSON documents checked when written; NULL when not set.
ALTER TABLE catalog_items ADD COLUMN billing_code TEXT;
ALTER TABLE locations ADD COLUMN claims TEXT;
