DROP TABLE e_billing_settings;
