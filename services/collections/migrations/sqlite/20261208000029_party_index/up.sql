-- receivables_party (party_kind, party_id) is the leading part of receivables_party_newest
-- (party_kind, party_id, id), which answers every query it answered. Kept beside it, it misled
-- PostgreSQL before the table was first analysed (a fresh database, a bulk load): the party's
-- newest payer code, read for every payment posted, went through the shorter index and sorted
-- all the party's receivables each time (a camt.053 of 10,000 credits of one insurer: 10,000
-- sorts of 10,000 rows). Without it the longer index is the only choice and gives the newest
-- in one step.
DROP INDEX receivables_party;
