#!/usr/bin/env python3
"""Validates ASC X12 005010X212 files (the 276 claim status request and the 277 response) with
x12sdk, which has the maps pyx12 lacks ("Map not found" for X212): it parses each transaction
into its typed model — required loops and segments, code values, lengths, dates — and refuses
what does not fit.

x12sdk drops a segment it cannot place without a word, so a file passes only when, for every
transaction, the model holds exactly as many segments as the SE segment counts (and as the file
has between its ST and SE). Usage: validate-x12sdk.py FILE... Prints `FILE: OK (n transactions)`
or what is wrong, and exits 1 when any file fails.
"""

import sys

from x12sdk.io import X12ModelReader


def segments_in(node) -> int:
    """The segments a parsed model holds (each is a mapping with a `segment_name`)."""
    if isinstance(node, dict):
        return (1 if "segment_name" in node else 0) + sum(segments_in(v) for v in node.values())
    if isinstance(node, list):
        return sum(segments_in(v) for v in node)
    return 0


def file_counts(text: str):
    """For each transaction of the file: its ST02, the segments from ST to SE, and SE01."""
    element = text[3]
    terminator = text[105] if len(text) > 105 else "~"
    out, current = [], None
    for raw in text.split(terminator):
        seg = raw.strip("\r\n")
        if not seg:
            continue
        ids = seg.split(element)
        if ids[0] == "ST":
            current = [ids[2] if len(ids) > 2 else "?", 0]
        if current is not None:
            current[1] += 1
        if ids[0] == "SE" and current is not None:
            se = ids[1] if len(ids) > 1 else ""
            out.append((current[0], current[1], int(se) if se.isdigit() else -1))
            current = None
    return out


def check(path: str) -> bool:
    try:
        with open(path, encoding="ascii") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        print(f"{path}: {e}")
        return False
    try:
        with X12ModelReader(path) as reader:
            models = [m.model_dump(exclude_unset=True) for m in reader.models()]
    except Exception as e:  # x12sdk raises pydantic's ValidationError, ValueError, KeyError ...
        print(f"{path}: FAILED")
        for line in str(e).splitlines()[:20]:
            print(f"  {line}")
        return False
    counts = file_counts(text)
    problems = []
    if len(models) != len(counts):
        problems.append(f"the file has {len(counts)} transactions, x12sdk read {len(models)}")
    for model, (control, in_file, se) in zip(models, counts):
        parsed = segments_in(model)
        if in_file != se:
            problems.append(f"ST {control}: SE counts {se} segments, the transaction has {in_file}")
        if parsed != in_file:
            problems.append(
                f"ST {control}: x12sdk placed {parsed} of its {in_file} segments"
                " (a segment out of its loop or unknown to the guide)"
            )
    if problems:
        print(f"{path}: FAILED")
        for p in problems:
            print(f"  {p}")
        return False
    print(f"{path}: OK ({len(models)} transactions)")
    return True


if __name__ == "__main__":
    results = [check(p) for p in sys.argv[1:]]
    sys.exit(0 if results and all(results) else 1)
