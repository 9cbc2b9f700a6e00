#!/usr/bin/env python3
"""Validate Alleycat payloads with the shipped JSON Schema, in Python (3.9+, jsonschema >= 4.0).

    python3 validate.py race-message.schema.json < payloads.jsonl

One payload per input line (a JSON text: a race message is one line); one verdict per output line:
`ok`, `not_json: ...`, or `invalid at <JSON Pointer>: ...`. Exit status 1 if any payload was refused.

What JSON Schema cannot say, and this script therefore does not check (the package README lists it): the
byte budgets, UTF-8 validity of raw bytes, and that a `clientId`, when present, is `racer-{racerId}`.
"""
import io
import json
import sys

import jsonschema


def reject_constant(name):
    # Python's json module accepts NaN, Infinity and -Infinity; JSON (and the Alleycat parser) does not.
    raise ValueError(f"{name} is not a JSON value")


def verdict(validator, payload):
    try:
        value = json.loads(payload, parse_constant=reject_constant)
    except ValueError as error:
        return f"not_json: {error}"
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return "ok"
    pointer = "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in error.absolute_path)
    return f"invalid at {pointer or '(root)'}: {error.message}"


def main():
    with open(sys.argv[1], encoding="utf-8") as file:
        schema = json.load(file)
    validator = jsonschema.Draft202012Validator(schema)
    # Lines end at \n only (a name may hold U+0085 or U+2028, which Python's str.splitlines would split on).
    lines = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="\n")
    refused = False
    for line in lines:
        # A byte order mark is dropped, as @alleycat/schema drops it from text and bytes.
        result = verdict(validator, line.rstrip("\n").removeprefix("\ufeff"))
        refused = refused or result != "ok"
        print(result)
    sys.exit(1 if refused else 0)


if __name__ == "__main__":
    main()
