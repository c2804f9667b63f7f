"""Turn a bundle's declared inputs into form fields, and form values back into a typed input row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medkit.core.errors import SchemaError


@dataclass
class FormField:
    name: str
    label: str
    type: str = "number"  # number | text | choice
    unit: str = ""
    choices: tuple[str, ...] = ()
    example: Any = None
    required: bool = True

    @property
    def html_id(self) -> str:
        return "f-" + "".join(c if c.isalnum() else "-" for c in self.name)


def form_fields(inputs: dict[str, Any]) -> list[FormField]:
    """Fields from ``bundle.json["inputs"]``: ``{"features": [name | {name, type, unit, choices, example}]}``
    (``columns`` is accepted as a synonym). Unknown layouts give no fields (the page offers CSV upload instead)."""
    spec = inputs.get("features") or inputs.get("columns") or []
    out = []
    for item in spec if isinstance(spec, list) else []:
        if isinstance(item, str):
            out.append(FormField(item, item))
        elif isinstance(item, dict) and "name" in item:
            kind = str(item.get("type", "number"))
            choices = tuple(str(c) for c in item.get("choices", ()) or ())
            out.append(FormField(str(item["name"]), str(item.get("label", item["name"])),
                                 "choice" if choices else ("text" if kind in ("text", "string", "category") else "number"),
                                 str(item.get("unit", "")), choices, item.get("example"),
                                 bool(item.get("required", True))))
    return out


def parse_row(fields: list[FormField], values: dict[str, str]) -> dict[str, Any]:
    """One input row from form values; numbers are parsed, an empty optional field becomes None."""
    if not fields:
        raise SchemaError("this model does not declare its inputs, so it has no form", where="bundle.json inputs",
                          fix="upload a CSV file instead")
    row: dict[str, Any] = {}
    for f in fields:
        raw = (values.get(f.name) or "").strip()
        if raw == "":
            if f.required:
                raise SchemaError(f"'{f.label}' is empty", where=f.name, fix="fill in every required field")
            row[f.name] = None
        elif f.type == "number":
            try:
                row[f.name] = float(raw)
            except ValueError:
                raise SchemaError(f"'{f.label}' is not a number", where=f.name,
                                  fix="type a number such as 12.5 (use a dot for decimals)") from None
        elif f.type == "choice" and raw not in f.choices:
            raise SchemaError(f"'{f.label}' must be one of {', '.join(f.choices)}", where=f.name, fix="pick a value")
        else:
            row[f.name] = raw
    return row


def parse_smiles(text: str, limit: int = 1000) -> list[str]:
    items = [s.strip() for s in text.replace(",", "\n").splitlines() if s.strip()]
    if not items:
        raise SchemaError("no SMILES given", where="smiles", fix="enter one SMILES per line")
    if len(items) > limit:
        raise SchemaError(f"{len(items)} SMILES given; the form takes at most {limit}", where="smiles",
                          fix="tick 'run as a screening job' for large libraries")
    if any(len(s) > 500 for s in items):
        raise SchemaError("a SMILES string is longer than 500 characters", where="smiles", fix="check the input")
    return items
