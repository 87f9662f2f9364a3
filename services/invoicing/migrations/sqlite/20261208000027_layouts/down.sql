DROP TABLE layout_versions;
DROP TABLE layouts;
