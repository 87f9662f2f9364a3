ALTER TABLE document_lines DROP COLUMN explanation;
