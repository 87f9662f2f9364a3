ALTER TABLE consumptions DROP CONSTRAINT consumptions_external_key;
ALTER TABLE consumptions ADD CONSTRAINT consumptions_source_system_external_id_key UNIQUE (source_system, external_id);
