-- Reminders as printed letters: a contact's postal address, a line each (newline-separated).
ALTER TABLE reminder_contacts ADD COLUMN postal_address TEXT;
