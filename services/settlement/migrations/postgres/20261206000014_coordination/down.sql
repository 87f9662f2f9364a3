ALTER TABLE coverage_terms DROP COLUMN supplemental_parts;
ALTER TABLE coverage_terms DROP COLUMN coordination;
