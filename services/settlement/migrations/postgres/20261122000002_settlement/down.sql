DROP TABLE coverage_terms;
DROP TABLE prices;
