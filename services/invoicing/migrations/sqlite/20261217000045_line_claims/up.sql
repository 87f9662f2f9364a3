-- What an electronic claim needs of each line (diagnoses, modifiers, ordering and attending
-- practitioners), JSON, as the approval carried it; NULL when it said nothing and on older lines.
ALTER TABLE document_lines ADD COLUMN claim TEXT;
