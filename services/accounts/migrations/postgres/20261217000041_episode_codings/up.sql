-- Episode coding (issue 18): each version of what an episode is coded as (diagnoses, admission
-- and discharge, practitioners), the highest version current. The whole coding is a JSON
-- document checked when written.
CREATE TABLE episode_codings (
    episode_id TEXT NOT NULL REFERENCES episodes (id),
    version BIGINT NOT NULL,
    data TEXT NOT NULL,
    reason TEXT,
    changed_by TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (episode_id, version)
);
