DROP TABLE e_billing_claim_events;
DROP TABLE e_billing_responses;
