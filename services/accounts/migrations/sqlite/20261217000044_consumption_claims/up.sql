-- What a clinical system said of a consumption for electronic claims (ICD-10-CM diagnoses,
-- procedure modifiers), JSON; NULL when it said nothing.
ALTER TABLE consumptions ADD COLUMN claim TEXT;
