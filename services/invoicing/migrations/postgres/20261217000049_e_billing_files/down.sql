DROP TABLE x12_control_numbers;
DROP TABLE e_billing_files;
