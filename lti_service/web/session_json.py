"""A plain-JSON serializer for Flask's signed session cookie.

Flask's default tagged serializer walks every value to tag tuples, bytes and markup; the
session here holds only JSON-native data (launch contexts, the CSRF token), and tagging it
cost about half a millisecond per request.
"""

from __future__ import annotations

import json
from typing import Any


class PlainJSONSerializer:
    def dumps(self, value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))

    def loads(self, value: str | bytes) -> Any:
        return json.loads(value)
