-- The covering index of the aging report is SQLite's only (see the SQLite migration of the
-- same version): PostgreSQL answers 100,000 receivables in about 150 ms without it.
SELECT 1;
