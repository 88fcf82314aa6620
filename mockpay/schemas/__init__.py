"""marshmallow schemas for every API body, and the one loader that turns a
validation failure into PARAM_ILLEGAL naming the field path."""
from __future__ import annotations

from marshmallow import Schema, ValidationError

from ..codes import MESSAGE_MAX, AmsError


def flatten_errors(errors, path: tuple = ()) -> list[tuple[tuple, str]]:
    """marshmallow's nested error messages as (field path, message) pairs; schema-level
    messages ("_schema", or "_") belong to the object that holds them."""
    out: list[tuple[tuple, str]] = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            out.extend(flatten_errors(value, path if key in ("_schema", "_") else path + (key,)))
    elif isinstance(errors, list):
        for item in errors:
            if isinstance(item, (dict, list)):
                out.extend(flatten_errors(item, path))
            else:
                out.append((path, str(item)))
    else:
        out.append((path, str(errors)))
    return out


_MESSAGES = {
    "Missing data for required field.": "is required",
    "Field may not be null.": "must not be null",
    "Invalid input type.": "must be a JSON object",
}


def describe(errors) -> str:
    """'paymentMethodDetail.card.expiryMonth must be 01 to 12' (+ how many more)."""
    flat = flatten_errors(errors)
    parts = [f"{'.'.join(map(str, path)) or 'body'} {_MESSAGES.get(msg, msg).rstrip('.')}" for path, msg in flat]
    if not parts:
        return "illegal parameters"
    text = parts[0]
    if len(parts) > 1:
        # as many of the others as fit in a resultMessage (at most 256 characters)
        shown: list[str] = []
        for part in parts[1:4]:
            candidate = f"{text} (and {len(parts) - 1} more: " + "; ".join(shown + [part]) + ")"
            if len(candidate) > MESSAGE_MAX:
                break
            shown.append(part)
        more = f" (and {len(parts) - 1} more" + (": " + "; ".join(shown) if shown else "") + ")"
        if len(text) + len(more) <= MESSAGE_MAX:
            text += more
    return text


def load(schema: Schema, data) -> dict:
    """Validate an API body; raise AmsError(PARAM_ILLEGAL) naming the field."""
    if not isinstance(data, dict):
        raise AmsError("PARAM_ILLEGAL", "body must be a JSON object")
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise AmsError("PARAM_ILLEGAL", describe(exc.messages)) from None


def valid_fields(schema: Schema, names: tuple[str, ...], data) -> dict:
    """The top-level fields `names` of a request body that pass their own validation,
    as sent: what an error answer may echo even when another field was refused."""
    if not isinstance(data, dict):
        return {}
    out = {}
    for name in names:
        if name not in data:
            continue
        try:
            schema.fields[name].deserialize(data[name], name, data)
        except ValidationError:
            continue
        out[name] = data[name]
    return out
