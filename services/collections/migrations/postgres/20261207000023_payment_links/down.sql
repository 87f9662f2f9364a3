DROP TABLE payment_webhook_events;
DROP TABLE payment_links;
