-- Who holds a coverage's policy when it is not the patient, and the group number (issue 18):
-- what claims name the subscriber by. JSON checked when written; NULL when the patient holds
-- the policy / no group.
ALTER TABLE coverages ADD COLUMN subscriber TEXT;
ALTER TABLE coverages ADD COLUMN group_number TEXT;
