-- The HIS key of a consumption, (source_system, external_id), led by the selective column. A
-- batch looks its 1,000 keys up with `source_system = $1 AND external_id = ANY($2)`; with the
-- source system first, a planner without statistics yet (a table filling fast) used the index
-- for `source_system` alone and filtered the rest on the heap: every row of that source read
-- per batch (150 ms at 200,000 consumptions). Led by external_id, the index serves only the
-- full key. Uniqueness and `ON CONFLICT (source_system, external_id)` are unchanged.
ALTER TABLE consumptions DROP CONSTRAINT consumptions_source_system_external_id_key;
ALTER TABLE consumptions ADD CONSTRAINT consumptions_external_key UNIQUE (external_id, source_system);
