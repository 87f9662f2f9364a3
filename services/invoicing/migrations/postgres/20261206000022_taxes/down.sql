DROP TABLE tax_rules;
ALTER TABLE document_lines DROP COLUMN tax_rate;
