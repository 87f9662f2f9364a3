DROP TABLE agency_pricings;
