DROP TABLE invoicing_placeholder;
