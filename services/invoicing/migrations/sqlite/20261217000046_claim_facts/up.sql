-- What electronic claims need of accounts' master data, as its events last said it: one row per
-- record, the newest kept (the highest version, then the latest changed_at). Kinds: location,
-- patient, coverages (a patient's, keyed by the patient), practitioner, coding (an episode's,
-- keyed by the episode), catalog_item (keyed by its code), and episode (what approvals say of
-- the episode they bill: its kind picks 837P or 837I). data is the payload, JSON.
CREATE TABLE claim_facts (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    data TEXT NOT NULL,
    version BIGINT NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (kind, key)
);
