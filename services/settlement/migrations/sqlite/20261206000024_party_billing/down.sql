DROP TABLE party_billing;
