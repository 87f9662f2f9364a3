DROP INDEX receivables_aging;
