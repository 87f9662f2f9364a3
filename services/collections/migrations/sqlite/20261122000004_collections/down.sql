DROP TABLE early_credit_notes;
DROP TABLE allocations;
DROP TABLE payments;
DROP TABLE receivables;
