DROP TABLE care_record_versions;
DROP TABLE care_records;
