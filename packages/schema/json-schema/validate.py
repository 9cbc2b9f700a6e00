#!/usr/bin/env python3
"""Validate Alleycat payloads with the shipped JSON Schema, in Python (3.9+, jsonschema >= 4.0).

    python3 validate.py race-message.schema.json < payloads.jsonl

One payload per input line (a JSON text: a race message is one line); one verdict per output line:
`ok`, `not_utf8: ...`, `not_json: ...`, `invalid at <JSON Pointer>: ...`, or `not_checked: ...` (nested
deeper than Python's parser goes). Exit status 1 if any payload was refused or not checked.

What JSON Schema cannot say, and this script therefore does not check (the package README lists it): the
byte budgets and that a `clientId`, when present, is `racer-{racerId}`. A line that is not UTF-8 gets
`not_utf8` (Python must decode it to read it), and the lines after it their own verdicts.
"""
import json
import sys

import jsonschema

# Python's own limits, not Alleycat's: a payload's numbers may be longer than 4,300 digits (an unknown field's
# value is accepted and ignored) and its arrays nested thousands deep within the byte budget.
if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)
# 10,000 covers a 16 KiB batch's deepest nesting (~8,190) and stays within a 2 MB C stack (Windows' python.exe).
sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))


def reject_constant(name):
    # Python's json module accepts NaN, Infinity and -Infinity; JSON (and the Alleycat parser) does not.
    raise ValueError(f"{name} is not a JSON value")


def verdict(validator, raw):
    try:
        payload = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not_utf8: invalid UTF-8 at byte {error.start}"
    # A byte order mark is dropped, as @alleycat/schema drops it from text and bytes.
    payload = payload.removeprefix("\ufeff")
    try:
        value = json.loads(payload, parse_constant=reject_constant)
    except ValueError as error:
        return f"not_json: {error}"
    except RecursionError:
        # Deeper than this Python's parser can go; the Alleycat parser has no such limit.
        return "not_checked: nested too deeply for Python's json module"
    try:
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is None:
            return "ok"
        pointer = "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in error.absolute_path)
        return f"invalid at {pointer or '(root)'}: {error.message}"
    except RecursionError:
        # jsonschema's error message quotes the offending value, which may be nested as deep.
        return "not_checked: nested too deeply for Python's jsonschema"


def main():
    with open(sys.argv[1], encoding="utf-8") as file:
        schema = json.load(file)
    validator = jsonschema.Draft202012Validator(schema)
    refused = False
    # Lines are read as bytes, split at \n only (a name may hold U+0085 or U+2028, which str.splitlines would
    # split on), and each decoded on its own: one line that is not UTF-8 gets its verdict, the rest theirs.
    for line in sys.stdin.buffer:
        result = verdict(validator, line.removesuffix(b"\n"))
        refused = refused or result != "ok"
        print(result)
    sys.exit(1 if refused else 0)


if __name__ == "__main__":
    main()
