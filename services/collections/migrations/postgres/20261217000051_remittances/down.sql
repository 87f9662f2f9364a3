DROP INDEX receivables_invoice_number;
DROP TABLE remittance_claims;
DROP TABLE remittances;
DROP TABLE claim_references;
