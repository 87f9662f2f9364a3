DROP TABLE claim_adjudications;
