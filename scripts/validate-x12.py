#!/usr/bin/env python3
"""Validates ASC X12 005010 files (837P, 837I, 835, 277CA, 999) with pyx12 against the
implementation guide its GS08 names: envelope and control numbers, SE counts, loops and their
order, required and unused elements, lengths, types, dates and pyx12's external code lists.

pyx12's own `x12valid` command always exits 1 and writes a .997 beside its input, so the library
is called instead: nothing is written to disk, and a file passes when pyx12 returns True **and**
the 999 it produced accepts every transaction (IK5*A, AK9*A). Usage: validate-x12.py FILE...
Prints `FILE: OK (GS08)` or each error pyx12 found (segment, position, loop, element, message),
and exits 1 when any file fails.
"""

import io
import json
import logging
import sys

import pyx12.params
import pyx12.x12n_document


def nested_errors(node, where):
    """Every error in pyx12's JSON report (interchange, group, transaction and segment levels),
    with where it was found."""
    if isinstance(node, dict):
        here = where + [
            f"{k}={node[k]}" for k in ("trn_set_control_num", "seg_id", "seg_pos", "loop_id")
            if k in node
        ]
        for e in node.get("errors", []):
            yield {"at": " ".join(here), **e} if isinstance(e, dict) else {"at": " ".join(here), "error": e}
        for k, v in node.items():
            if k != "errors" and isinstance(v, (list, dict)):
                yield from nested_errors(v, here)
    elif isinstance(node, list):
        for item in node:
            yield from nested_errors(item, where)


class Collect(logging.Handler):
    """pyx12 logs some errors instead of reporting them (and can fail to write its 999 after
    one): each logged error fails the file."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage().splitlines()[0])


def check(path: str) -> bool:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError as e:
        print(f"{path}: {e.strerror}")
        return False
    fd_999 = io.StringIO()
    fd_json = io.StringIO()
    logged = Collect()
    logging.getLogger("pyx12").addHandler(logged)
    ok = pyx12.x12n_document.x12n_document(
        pyx12.params.params(), io.StringIO(text), fd_999, None, None, fd_json=fd_json
    )
    ack = fd_999.getvalue()
    segments = [s.strip() for s in ack.replace("\n", "").split("~") if s.strip()]
    accepted = any(s.startswith("AK9*A") for s in segments) and not any(
        s.startswith(("IK5*R", "IK5*E", "IK5*M", "IK5*W", "IK5*X")) for s in segments
    )
    errors = []
    raw = fd_json.getvalue().strip()
    if raw:
        try:
            errors = list(nested_errors(json.loads(raw), []))
        except json.JSONDecodeError:
            errors = [{"message": line} for line in raw.splitlines() if line.strip()]
    version = ", ".join(
        s.split("*")[8] for s in text.replace("\n", "").split("~") if s.startswith("GS*")
    ) or "?"
    logging.getLogger("pyx12").removeHandler(logged)
    # The 835's guide leaves ST03 unused, and pyx12 4.0.0 cannot write a 999 for a transaction
    # without ST03 ("Cannot create AK2: err_st.vriic was not set"): for those the verdict is
    # its return value and its error report alone.
    no_st03 = any(
        s.startswith("ST*") and len(s.split("*")) < 4 for s in text.replace("\n", "").split("~")
    )
    # Nor does it acknowledge an acknowledgement: for a 999 it writes nothing.
    if not ack.strip():
        accepted = True
    if no_st03:
        accepted = True
        logged.messages = [m for m in logged.messages if m != "Failed to create 999 response"]
    if not errors:  # pyx12 logs what it also reports; its log only adds to an empty report
        errors = [{"logged": m} for m in logged.messages]
    if ok and accepted and not errors:
        print(f"{path}: OK ({version})")
        return True
    print(f"{path}: FAILED ({version})")
    for e in errors:
        print(f"  {json.dumps(e, sort_keys=True)}")
    for s in segments:
        if s.startswith(("IK3", "IK4", "IK5", "AK9")):
            print(f"  999: {s}")
    return False


if __name__ == "__main__":
    logging.getLogger("pyx12").propagate = False
    results = [check(p) for p in sys.argv[1:]]
    sys.exit(0 if results and all(results) else 1)
