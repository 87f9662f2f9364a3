DROP TABLE bank_debtor_accounts;
DROP TABLE bank_statement_entries;
DROP TABLE bank_statements;
DROP INDEX receivables_party_newest;
DROP INDEX receivables_payment_reference;
ALTER TABLE receivables DROP COLUMN payment_reference;
