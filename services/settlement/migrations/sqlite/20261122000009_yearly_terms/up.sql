-- Yearly deductible and cap per payer and patient, counted across episodes.
ALTER TABLE coverage_terms ADD COLUMN deductible_per_year_minor BIGINT;
ALTER TABLE coverage_terms ADD COLUMN cap_per_year_minor BIGINT;
