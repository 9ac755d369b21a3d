"""Weather per store and UTC day, an optional input of the demand forecast (docs/forecast.md).
Pure: the conditions and their classes, the checks of a list of days (API body and CSV file
alike) and the CSV reader. The SQL is ``cloud/reports/weather_sql.py``; the model ``forecast.py``.

A day: ``{"day": "YYYY-MM-DD", "condition": one of CONDITIONS, "precip_tenths_mm": int|null,
"temp_tenths_c": int|null}`` — observed for past days, the weather forecast for days ahead.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from typing import Any, Final

from jsonschema import Draft202012Validator

# condition -> class: the forecast learns one demand factor per class
CLASS_OF: Final = {"clear": "dry", "cloudy": "dry", "rain": "wet", "snow": "wet",
                   "storm": "wet"}
CONDITIONS: Final = tuple(CLASS_OF)
CLASSES: Final = ("dry", "wet")
MAX_DAYS: Final = 1000
FIELDS: Final = ("day", "condition", "precip_tenths_mm", "temp_tenths_c")
_DAY: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?!\n)$")  # \d: "٢" too

DAY_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["day", "condition"],
    "additionalProperties": False,
    "properties": {
        "day": {"type": "string", "pattern": _DAY.pattern,
                "description": "UTC day YYYY-MM-DD"},
        "condition": {"type": "string", "enum": list(CONDITIONS)},
        "precip_tenths_mm": {"type": ["integer", "null"], "minimum": 0, "maximum": 20_000,
                             "description": "precipitation of the day, 0.1 mm"},
        "temp_tenths_c": {"type": ["integer", "null"], "minimum": -900, "maximum": 600,
                          "description": "mean temperature of the day, 0.1 °C"},
    },
}
BODY: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["days"],
    "additionalProperties": False,
    "properties": {"days": {"type": "array", "minItems": 1, "maxItems": MAX_DAYS,
                            "items": DAY_SCHEMA}},
}
_BODY_CHECK: Final = Draft202012Validator(BODY)

Problem = dict[str, str]


def problems(days: list[dict[str, Any]]) -> list[Problem]:
    """What is wrong with ``days`` (``[{"path", "message"}]``, at most 10): the schema, then
    days that are no date and days given twice. Empty: all of them may be stored."""
    found = [{"path": "/".join(str(p) for p in e.absolute_path), "message": e.message[:200]}
             for e in sorted(_BODY_CHECK.iter_errors({"days": days}),
                             key=lambda e: list(e.absolute_path))]
    if found:
        return found[:10]
    seen: set[str] = set()
    for n, entry in enumerate(days):
        try:
            date.fromisoformat(entry["day"])
        except ValueError:
            found.append({"path": f"days/{n}/day", "message": f"{entry['day']!r} is no date"})
        if entry["day"] in seen:
            found.append({"path": f"days/{n}/day", "message": f"{entry['day']} given twice"})
        seen.add(entry["day"])
    return found[:10]


def check_bounds(*days: str | None) -> None:
    """``from``/``to`` of a read: each a day YYYY-MM-DD or None; ValueError otherwise."""
    for day in days:
        try:
            if day is not None:
                date.fromisoformat(day if _DAY.match(day) else "")
        except ValueError:
            raise ValueError(f"{day!r} is not a day YYYY-MM-DD") from None


def normalised(entry: dict[str, Any]) -> dict[str, Any]:
    """A checked day with every field (absent measurements: None)."""
    return {name: entry.get(name) for name in FIELDS}


def _cell(text: str | None) -> int | str | None:
    """A CSV measurement: empty -> None, an integer -> int, else the text (the check says)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def parse_csv(text: str) -> list[dict[str, Any]]:
    """Rows of a CSV with the header ``day,condition[,precip_tenths_mm][,temp_tenths_c]`` as
    days (not yet checked); ValueError on a header without day and condition or other
    columns."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    if not {"day", "condition"} <= set(header) or not set(header) <= set(FIELDS):
        raise ValueError(f"CSV header must be day,condition[,precip_tenths_mm]"
                         f"[,temp_tenths_c], not {','.join(header)!r}")
    reader.fieldnames = header
    days = []
    for row in reader:
        entry: dict[str, Any] = {"day": (row["day"] or "").strip(),
                                 "condition": (row["condition"] or "").strip()}
        for name in FIELDS[2:]:
            if name in header:
                entry[name] = _cell(row[name])
        days.append(entry)
    return days



def to_csv(days: list[dict[str, Any]]) -> str:
    """``days`` as the CSV ``parse_csv`` reads."""
    out = io.StringIO()
    writer = csv.DictWriter(out, FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(normalised(d) for d in days)
    return out.getvalue()


def csv_problem(problem: Problem) -> str:
    """A problem of ``parse_csv``'s days, by line of the file (the header is line 1)."""
    parts = problem["path"].split("/")
    if len(parts) < 2:
        return problem["message"]
    column = f" ({parts[2]})" if len(parts) > 2 else ""
    return f"line {int(parts[1]) + 2}{column}: {problem['message']}"
