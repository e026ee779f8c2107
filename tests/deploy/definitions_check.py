"""Run by tests/deploy under .venv-protos: parse each definition strictly with Google's own
message classes. Reads ``{"LogMetric": [...], "AlertPolicy": [...], "Dashboard": [...]}``
on stdin, writes ``{"checked": N, "errors": [...]}`` on stdout.

Strict: ``json_format.ParseDict`` refuses an unknown or misspelt field, a wrong type and an
unknown enum value, where the APIs' own JSON parsing would do the same.
"""

import json
import sys

from google.cloud import monitoring_dashboard_v1, monitoring_v3
from google.cloud.logging_v2.types import LogMetric
from google.protobuf import json_format

MESSAGES = {
    "LogMetric": LogMetric.pb(),
    "AlertPolicy": monitoring_v3.AlertPolicy.pb(),
    "Dashboard": monitoring_dashboard_v1.Dashboard.pb(),
}


def main() -> int:
    given = json.load(sys.stdin)
    errors, checked = [], 0
    for kind, definitions in given.items():
        for definition in definitions:
            checked += 1
            try:
                json_format.ParseDict(definition, MESSAGES[kind](), ignore_unknown_fields=False)
            except json_format.ParseError as error:
                errors.append(f"{kind} {definition.get('name') or definition.get('displayName')}: {error}")
    json.dump({"checked": checked, "errors": errors}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
