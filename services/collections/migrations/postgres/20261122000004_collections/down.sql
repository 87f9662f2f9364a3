DROP TABLE collections_placeholder;
