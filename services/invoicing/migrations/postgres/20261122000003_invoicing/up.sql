-- The invoicing database (placeholder until the service's tables land).
CREATE TABLE invoicing_placeholder (id TEXT PRIMARY KEY);
