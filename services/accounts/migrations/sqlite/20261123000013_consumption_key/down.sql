-- PostgreSQL only (its unique key on consumptions now leads with external_id); SQLite's planner
-- probes the existing unique index for the full key. Kept so both backends have the same
-- migration names.
SELECT 1;
