ALTER TABLE document_lines DROP COLUMN performed_by;
ALTER TABLE document_lines DROP COLUMN service_kind;
