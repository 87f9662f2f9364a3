DROP TABLE invoice_batch_documents;
DROP TABLE invoice_batches;
