-- Batches look up many event ids of one consumer at once: an index led by the event id serves
-- that lookup directly (the primary key, led by the consumer, cannot skip to each id).
CREATE INDEX inbox_event ON inbox (event_id);
