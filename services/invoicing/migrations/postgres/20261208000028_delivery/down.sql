DROP TABLE portal_links;
DROP TABLE delivery_attempts;
DROP TABLE deliveries;
DROP TABLE sending_windows;
DROP TABLE delivery_settings;
