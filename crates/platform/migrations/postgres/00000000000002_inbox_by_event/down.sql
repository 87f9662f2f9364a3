DROP INDEX inbox_event;
