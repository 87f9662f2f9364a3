-- Coordination of benefits: how a payer pays when it is not the first payer of a line, and
-- the parts of the patient responsibility a supplemental plan pays (JSON list).
ALTER TABLE coverage_terms ADD COLUMN coordination TEXT NOT NULL DEFAULT 'sequential';
ALTER TABLE coverage_terms ADD COLUMN supplemental_parts TEXT NOT NULL DEFAULT '[]';
