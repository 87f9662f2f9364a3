DROP TABLE audit_log;
DROP TABLE idempotency_keys;
DROP TABLE dead_letters;
DROP TABLE inbox;
DROP TABLE outbox;
