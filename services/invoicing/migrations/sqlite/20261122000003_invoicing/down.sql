DROP TABLE billed_consumptions;
DROP TABLE document_lines;
DROP TABLE credit_notes;
DROP TABLE invoices;
DROP TABLE invoiced_settlements;
DROP TABLE invoice_series;
