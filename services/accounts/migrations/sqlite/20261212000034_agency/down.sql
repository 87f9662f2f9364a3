DROP TABLE agency_notices;
DROP TABLE timesheet_approvals;
DROP TABLE timesheet_links;
DROP TABLE timesheet_hours;
DROP TABLE timesheets;
DROP TABLE placements;
DROP TABLE carers;
