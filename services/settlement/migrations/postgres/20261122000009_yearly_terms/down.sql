ALTER TABLE coverage_terms DROP COLUMN cap_per_year_minor;
ALTER TABLE coverage_terms DROP COLUMN deductible_per_year_minor;
