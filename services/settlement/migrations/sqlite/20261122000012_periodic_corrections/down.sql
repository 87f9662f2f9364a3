DROP TABLE periodic_corrections;
