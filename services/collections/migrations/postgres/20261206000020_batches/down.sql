DROP TABLE batch_documents;
DROP TABLE batches;
