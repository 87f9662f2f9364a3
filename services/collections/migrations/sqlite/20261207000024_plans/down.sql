DROP TABLE payment_plan_receivables;
DROP TABLE payment_plan_installments;
DROP TABLE payment_plans;
DROP TABLE receivable_disputes;
DROP TABLE receivable_adjustments;
ALTER TABLE receivables DROP COLUMN adjusted_minor;
