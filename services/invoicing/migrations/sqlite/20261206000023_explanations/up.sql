-- What each invoice line's amount is made of (coordination of benefits): the parts of the
-- recipient's share (covered, copay, deductible, coinsurance, not covered, excluded, cap reached)
-- and the coordination method of a payer after the first, as the approved settlement explained
-- them (JSON). NULL on lines issued before, and on credit note lines that only credit an amount.
ALTER TABLE document_lines ADD COLUMN explanation TEXT;
