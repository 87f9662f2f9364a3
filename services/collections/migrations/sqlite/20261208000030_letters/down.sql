ALTER TABLE reminder_contacts DROP COLUMN postal_address;
