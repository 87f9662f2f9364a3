DROP TABLE invoice_corrections;
