DROP TABLE settlement_billing;
DROP TABLE settlement_observations;
DROP TABLE settlement_status_changes;
DROP TABLE settlement_inputs;
DROP TABLE settlement_lines;
DROP TABLE settlement_versions;
DROP TABLE settlements;
