DROP TABLE e_billing_claims;
DROP TABLE e_billings;
