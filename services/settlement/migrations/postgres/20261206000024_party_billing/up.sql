-- What invoices name a payer or a location by, as accounts last announced it
-- (payer.changed, location.changed), keyed `payer:<id>` or `location:<id>`: an approval takes it
-- over what its settlement's last consumption carried when it is newer, so master data completed
-- after an episode's last consumption still reaches its invoices.
CREATE TABLE party_billing (
    party TEXT PRIMARY KEY,
    billing TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL
);
