DROP TABLE write_off_thresholds;
DROP TABLE write_offs;
DROP TABLE refunds;
DROP TABLE payment_tenders;
ALTER TABLE payments DROP COLUMN episode_id;
ALTER TABLE payments DROP COLUMN kind;
ALTER TABLE payments DROP COLUMN refunded_minor;
ALTER TABLE receivables DROP COLUMN written_off_minor;
