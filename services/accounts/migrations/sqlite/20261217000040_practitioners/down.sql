DROP TABLE practitioner_identifiers;
DROP TABLE practitioners;
