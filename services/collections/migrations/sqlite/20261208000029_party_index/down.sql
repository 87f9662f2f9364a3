CREATE INDEX receivables_party ON receivables (party_kind, party_id);
