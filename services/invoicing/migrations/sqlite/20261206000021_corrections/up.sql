-- Corrective invoices: an invoice issued for a party after a credit note
-- with reissue cancelled that party's invoice of the same settlement replaces it, and names it
-- (EN 16931 BT-25, BT-26; its UBL stays a 380, as Peppol's billing profile has no 384). One row per corrective invoice; a credited invoice is replaced once.
CREATE TABLE invoice_corrections (
    invoice_id TEXT PRIMARY KEY REFERENCES invoices (id),
    corrects_invoice_id TEXT NOT NULL UNIQUE REFERENCES invoices (id),
    corrects_number TEXT NOT NULL,
    corrects_issue_date DATE NOT NULL
);
