ALTER TABLE document_lines DROP COLUMN claim;
