-- The collections database (placeholder until the service's tables land).
CREATE TABLE collections_placeholder (id TEXT PRIMARY KEY);
