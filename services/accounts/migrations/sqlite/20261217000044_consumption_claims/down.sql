ALTER TABLE consumptions DROP COLUMN claim;
