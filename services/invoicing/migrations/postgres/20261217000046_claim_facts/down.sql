DROP TABLE claim_facts;
