-- What kind of service each line bills and who performed it, as approvals now carry them (for
-- revenue per service type and utilization per practitioner); NULL on older lines.
ALTER TABLE document_lines ADD COLUMN service_kind TEXT;
ALTER TABLE document_lines ADD COLUMN performed_by TEXT;
