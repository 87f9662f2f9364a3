-- Taxes as configuration: VAT rules per country, for one catalog code, one service group or every
-- line, valid by date (the most specific in force on the invoice date applies; without any, a
-- line is health care, exempt). A line keeps the rate it was issued with; lines issued before
-- were all exempt (rate 0).
ALTER TABLE document_lines ADD COLUMN tax_rate TEXT NOT NULL DEFAULT '0';
CREATE TABLE tax_rules (
    id TEXT PRIMARY KEY,
    country TEXT NOT NULL,
    catalog_code TEXT,
    service_group TEXT,
    category TEXT NOT NULL,
    rate TEXT NOT NULL,
    exemption_reason_code TEXT,
    exemption_reason TEXT,
    valid_from DATE NOT NULL,
    valid_to DATE,
    description TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX tax_rules_country ON tax_rules (country, valid_from);
