DROP TABLE invoicing_rule_activations;
DROP TABLE invoicing_rules;
DROP TABLE invoice_contexts;
