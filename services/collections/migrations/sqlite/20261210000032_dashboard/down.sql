DROP TABLE dashboard_locations;
DROP TABLE dashboard_due;
DROP TABLE dashboard_months;
DROP TABLE dashboard_settlements;
