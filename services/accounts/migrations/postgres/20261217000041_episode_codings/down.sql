DROP TABLE episode_codings;
