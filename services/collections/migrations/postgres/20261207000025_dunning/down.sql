DROP TABLE reminder_notices;
DROP TABLE reminder_runs;
DROP TABLE reminder_policies;
DROP TABLE reminder_contacts;
