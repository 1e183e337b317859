#!/usr/bin/python3
"""Checks a coracle --json stream (stdin) against docs/events.schema.json.

Usage: validate_events.py SCHEMA COMMAND [FINAL]
  COMMAND: the command the stream is of ("exec", "image pull", ...)
  FINAL:   result or error: the final event the stream must end with

Every line must be one JSON object with `event` as its first key, valid
under the schema; exactly one final event (result or error), the last
line, naming COMMAND. Prints what is wrong and exits 1, else prints the
events' names and exits 0.
"""
import json
import sys

import jsonschema


def main():
    schema_path, command = sys.argv[1], sys.argv[2]
    want_final = sys.argv[3] if len(sys.argv) > 3 else None
    with open(schema_path) as f:
        schema = json.load(f)
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    lines = sys.stdin.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    problems, names = [], []
    finals = 0
    for n, line in enumerate(lines, 1):
        try:
            event = json.loads(line)
        except ValueError as e:
            problems.append(f"line {n} is not JSON ({e}): {line[:200]!r}")
            continue
        if not isinstance(event, dict) or not event:
            problems.append(f"line {n} is not a JSON object: {line[:200]!r}")
            continue
        if next(iter(event)) != "event":
            problems.append(f"line {n}: the first key is {next(iter(event))!r}, not 'event'")
        names.append(event.get("event"))
        for error in validator.iter_errors(event):
            path = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"line {n} ({event.get('event')}): {path}: {error.message}")
        if event.get("event") in ("result", "error"):
            finals += 1
            if n != len(lines):
                problems.append(f"line {n}: a final event that is not the last line")
            if event.get("command") != command:
                problems.append(f"line {n}: command {event.get('command')!r}, not {command!r}")
            if want_final and event["event"] != want_final:
                problems.append(f"line {n}: ends with {event['event']}, not {want_final}")
    if finals != 1:
        problems.append(f"{finals} final events (result or error); exactly one is wanted")
    if problems:
        print("\n".join(problems))
        return 1
    print(" ".join(str(x) for x in names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
