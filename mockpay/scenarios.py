"""Outcomes: what the mock answers to a given request.

Scenario files (YAML, validated with marshmallow) map card numbers, BIN
prefixes and other request fields to outcomes. The first matching rule wins;
a request that matches nothing gets the default outcome (success).

Where rules come from, in the order they are tried:
1. the rule set loaded at run time for the calling client id
   (PUT /_mockpay/clients/<clientId>/scenarios, kept in SQLite);
2. the files given to `mockpay serve --scenarios PATH` (in that order);
3. the catalogue shipped in the package (default_scenarios.yaml).

A rule with a `sequence` answers its outcomes one after the other; the call
counter lives in SQLite, per client id and rule, so it holds across gunicorn
workers and restarts.

Every error found in a file names the file, the line and the rule, e.g.
    scenarios/ci.yaml:12: rule 3 "visa-3ds": outcome.urls: urls is only for VERIFICATION_IN_PROCESS ...
"""
from __future__ import annotations

import difflib
import re
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf, Range, Regexp

from .cards import luhn_ok, redact_card_numbers
from .codes import API_CODES, FAILURE_REASONS, RESULT_CODES
from .schemas import flatten_errors
from .schemas import payment_methods as payment_method_schemas
from .schemas import sessions as session_schemas
from .schemas import vaulting as vaulting_schemas
from .schemas.fields import CARD_BRANDS, AmsBoolean, AmsString

URL_FIELDS = ("normalUrl", "schemeUrl", "applinkUrl")
FAULTS = ("http_500", "http_502", "http_503", "drop", "timeout")
# A 5xx comes from in front of the service: the request was not processed. A
# dropped connection or a timeout loses the answer after the work was done.
FAULT_PROCESSED_DEFAULT = {"http_500": False, "http_502": False, "http_503": False, "drop": True, "timeout": True}
FUNDING = ("CREDIT", "DEBIT", "PREPAID", "CHARGE", "DEFERRED_DEBIT")
EXPIRY_RULES = ("future", "any")
# vaultPaymentMethod codes after which the vault is stored as FAIL (and `reason` applies)
FAIL_VAULT_CODES = ("VERIFICATION_FAIL", "PROCESS_FAIL", "RISK_REJECT")
# vaultPaymentMethod codes after which a card is (or may be, after a challenge) vaulted
CARD_CODES = ("SUCCESS", "VERIFICATION_IN_PROCESS")
CHALLENGE_ACTIONS = ("authenticate", "fail", "cancel", "expire")
SEQUENCE_AFTER = ("repeatLast", "cycle")
MATCH_OPERATORS = ("equals", "prefix", "in", "present", "regex")
DEFAULT_API = "vaultPaymentMethod"
BUILTIN_PATH = Path(__file__).with_name("default_scenarios.yaml")
BUILTIN_LABEL = "mockpay/default_scenarios.yaml"


@dataclass(frozen=True)
class Outcome:
    result_code: str = "SUCCESS"
    result_message: str | None = None
    # vaultingResultCode that inquireVaulting reports for a FAIL
    reason: str | None = None
    # VERIFICATION_IN_PROCESS: which links to return (any of normalUrl, schemeUrl, applinkUrl)
    urls: tuple[str, ...] = ("normalUrl",)
    # what a 3DS challenge resolves to when the buyer authenticates / fails / cancels it, or lets it expire
    challenge_success: str = "SUCCESS"
    challenge_fail: str = "USER_PAYMENT_VERIFICATION_FAILED"
    challenge_cancel: str = "USER_PAYMENT_VERIFICATION_FAILED"
    challenge_expire: str = "USER_PAYMENT_VERIFICATION_FAILED"
    # a one-time code the challenge page asks for; None: any code is accepted
    challenge_otp: str | None = None
    delay_ms: int = 0
    # None, or one of: http_500, http_502, http_503, drop, timeout
    fault: str | None = None
    # with a fault: whether the request was processed (stored) before the fault hit
    processed: bool = True
    brand: str | None = None
    funding: str = "CREDIT"
    issuing_country: str | None = None
    # SUCCESS whatever the card's expiry date (Antom's sandbox cards); otherwise an expiry
    # past on the mock clock turns SUCCESS, or a 3DS challenge, into VERIFICATION_FAIL
    # (CARD_EXPIRED). See ScenarioEngine.takes_any_expiry for challenges.
    any_expiry: bool = False
    rule: str = "default: success"

    @property
    def result_status(self) -> str:
        return RESULT_CODES[self.result_code][0]


DEFAULT_OUTCOME = Outcome()


# -- errors ----------------------------------------------------------------------

@dataclass(frozen=True)
class Issue:
    """One problem in a scenario file: where it is and what is wrong."""
    source: str
    line: int | None
    rule: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        who = f" {self.rule}:" if self.rule else ""
        return f"{where}:{who} {self.message}"


class ScenarioError(ValueError):
    """One or more invalid scenario files; str() is one line per problem, the first
    MAX_ISSUES of them (a list of 400000 bad values is not 400000 lines)."""
    MAX_ISSUES = 50

    def __init__(self, issues: list[Issue]):
        issues = list(issues)
        if len(issues) > self.MAX_ISSUES:
            more = len(issues) - self.MAX_ISSUES + 1
            issues = issues[:self.MAX_ISSUES - 1] + [Issue(issues[-1].source, None, None,
                                                           f"... and {more} more problems")]
        self.issues = issues
        super().__init__("\n".join(str(i) for i in self.issues))


# -- request fields a rule may match on ----------------------------------------------

_REQUEST_SCHEMAS: dict[str, Schema] = {}


def register_request_schema(api: str, schema: Schema) -> None:
    """Let rules for `api` match on the fields of this request schema (and check their paths)."""
    _REQUEST_SCHEMAS[api] = schema


register_request_schema("vaultPaymentMethod", vaulting_schemas.vault_payment_method)
register_request_schema("inquireVaulting", vaulting_schemas.inquire_vaulting)
register_request_schema("createVaultingSession", session_schemas.create_vaulting_session)
register_request_schema("cacheCard", payment_method_schemas.cache_card)


def _request_schema(api: str) -> Schema | None:
    return _REQUEST_SCHEMAS.get(api)


def _schema_paths(schema: Schema, prefix: str = "") -> dict[str, fields.Field]:
    out: dict[str, fields.Field] = {}
    for name, f in schema.fields.items():
        path = prefix + (f.data_key or name)
        if isinstance(f, fields.Nested):
            out[path] = f  # an object: `present` applies to it
            out.update(_schema_paths(f.schema, path + "."))
        else:
            out[path] = f
    return out


def resolve_path(api: str, path: str) -> tuple[str | None, fields.Field | None, str | None]:
    """A field path as written in a rule -> (full dotted path, its field, error).
    A path may be abbreviated to its unique ending: `is3DSAuthentication` is
    `paymentMethodDetail.card.is3DSAuthentication`, `env.terminalType` is itself."""
    schema = _request_schema(api)
    if schema is None:
        return path, None, None
    paths = _schema_paths(schema)
    if path in paths:
        return path, paths[path], None
    ends = [p for p in paths if p.endswith("." + path)]
    if len(ends) == 1:
        return ends[0], paths[ends[0]], None
    if len(ends) > 1:
        return None, None, f"{path} is ambiguous in {api}: write one of {', '.join(sorted(ends))}"
    close = difflib.get_close_matches(path, list(paths) + [p.rsplit(".", 1)[-1] for p in paths], n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return None, None, f"{path} is not a request field of {api}{hint}"


# -- marshmallow schemas of a scenario file ------------------------------------------

class Scalar(fields.Field):
    """A YAML scalar that stands for a string: str, int (an unquoted card number) or bool."""

    default_error_messages = {"invalid": "must be a string"}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int)):
            return str(value)
        raise self.make_error("invalid")


class Text(fields.String):
    default_error_messages = {"invalid": "must be a string"}


def _one_line(value: str) -> None:
    if "\n" in value.strip():
        raise ValidationError("must be one line")


class Strict(Schema):
    class Meta:
        unknown = RAISE


class ChallengeSchema(Strict):
    authenticate = Text()
    fail = Text()
    cancel = Text()
    expire = Text()
    otp = Scalar(validate=Regexp(r"[0-9A-Za-z]{1,16}", error="must be 1 to 16 letters or digits"))

    @validates_schema
    def _check(self, data, **kwargs):
        errors = {}
        for action in CHALLENGE_ACTIONS:
            value = data.get(action)
            if value is None:
                continue
            allowed = (("SUCCESS",) if action == "authenticate" else ()) + tuple(FAILURE_REASONS)
            if value not in allowed:
                errors[action] = [f"{action} must be {'SUCCESS or ' if action == 'authenticate' else ''}"
                                  f"a vaultingResultCode ({', '.join(FAILURE_REASONS)}), not {value!r}"]
        if errors:
            raise ValidationError(errors)


class OutcomeSchema(Strict):
    resultCode = Text(load_default="SUCCESS")
    resultStatus = Text(validate=OneOf(("S", "F", "U"), error="must be S, F or U"))
    resultMessage = Text(validate=[Length(1, 256), _one_line])
    reason = Text()
    urls = fields.List(Text(validate=OneOf(URL_FIELDS, error="must be one of normalUrl, schemeUrl, applinkUrl")))
    challenge = fields.Nested(ChallengeSchema)
    delayMs = fields.Integer(strict=True, validate=Range(0, 120_000, error="must be 0 to 120000"))
    fault = Text(validate=OneOf(FAULTS, error="must be one of " + ", ".join(FAULTS)))
    processed = fields.Boolean(truthy={True}, falsy={False})
    brand = Text(validate=OneOf(CARD_BRANDS, error="must be a card brand of the SDK (VISA, MASTERCARD, ...)"))
    funding = Text(validate=OneOf(FUNDING, error="must be one of " + ", ".join(FUNDING)))
    issuingCountry = Text(validate=Regexp(r"[A-Z]{2}", error="must be a 2-letter ISO 3166 code in upper case"))
    expiry = Text(validate=OneOf(EXPIRY_RULES, error="must be " + " or ".join(EXPIRY_RULES)))


def outcome_problems(outcome: dict, api: str) -> dict[str, list[str]]:
    """What is wrong with an outcome for `api`: the code, its status, and fields that do not go with it."""
    errors: dict[str, list[str]] = {}
    code = outcome.get("resultCode", "SUCCESS")
    if code not in RESULT_CODES:
        close = difflib.get_close_matches(code, list(RESULT_CODES), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        errors["resultCode"] = [f"unknown result code {code!r}{hint}"]
        return errors
    if code not in API_CODES.get(api, ()):
        others = [a for a, codes in API_CODES.items() if code in codes]
        hint = f"; it is a code of {', '.join(others)}" if others else ""
        errors["resultCode"] = [f"{code} is not a result code of {api}{hint}"]
        return errors
    status = RESULT_CODES[code][0]
    if "resultStatus" in outcome and outcome["resultStatus"] != status:
        errors["resultStatus"] = [f"{code} has resultStatus {status}, not {outcome['resultStatus']}"]
    vip = code == "VERIFICATION_IN_PROCESS"
    if "urls" in outcome:
        if not vip:
            errors["urls"] = [f"urls is only for VERIFICATION_IN_PROCESS outcomes (resultStatus U), not {code}"]
        elif len(set(outcome["urls"])) != len(outcome["urls"]):
            errors["urls"] = ["urls names a link twice"]
    if "challenge" in outcome and not vip:
        errors["challenge"] = [f"challenge is only for VERIFICATION_IN_PROCESS outcomes, not {code}"]
    if "reason" in outcome:
        if api != "vaultPaymentMethod" or code not in FAIL_VAULT_CODES:
            errors["reason"] = [f"reason (the vaultingResultCode of a failed vault) is only for "
                                f"{', '.join(FAIL_VAULT_CODES)} on vaultPaymentMethod, not {code}"]
        elif outcome["reason"] not in FAILURE_REASONS:
            close = difflib.get_close_matches(outcome["reason"], list(FAILURE_REASONS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            errors["reason"] = [f"unknown reason {outcome['reason']!r}{hint}; one of {', '.join(FAILURE_REASONS)}"]
    for name in ("brand", "funding", "issuingCountry"):
        if name in outcome and (api != "vaultPaymentMethod" or code not in CARD_CODES):
            errors[name] = [f"{name} describes a vaulted card: only for SUCCESS or VERIFICATION_IN_PROCESS "
                            f"on vaultPaymentMethod, not {code}"]
    if "expiry" in outcome and (api != "vaultPaymentMethod" or code != "SUCCESS"):
        errors["expiry"] = [f"expiry is only for SUCCESS on vaultPaymentMethod, not {code}"]
    if "processed" in outcome and "fault" not in outcome:
        errors["processed"] = ["processed only goes with a fault"]
    return errors


def _is_operator_map(value) -> bool:
    return isinstance(value, dict) and bool(value) and all(k in MATCH_OPERATORS for k in value)


def refusal_rule(specs) -> bool:
    """Every outcome is PARAM_ILLEGAL: the rule may then name a value the API refuses (the
    built-in "expiryMonth 13" rule does): it describes the validation answer, as Antom's
    sandbox table does, though validation answers before any rule is asked."""
    return bool(specs) and all(isinstance(o, dict) and o.get("resultCode") == "PARAM_ILLEGAL" for o in specs)


def _normalise(value, f: fields.Field | None, refused_ok: bool = False):
    """A rule's value in the form the request schema loads it (booleans as "true"/"false", upper-case
    choices). A value the API refuses could never match (`expiryMonth: 8` for "08"), so it is an
    error at load, unless `refused_ok` (see refusal_rule)."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("must be a string, a number or true/false")
    if isinstance(f, AmsBoolean):
        if value.lower() not in ("true", "false"):
            raise ValueError('must be "true" or "false"')
        return value.lower()
    if isinstance(f, AmsString):
        try:
            return f.deserialize(value)  # as the request loads it (choices upper-cased)
        except ValidationError as exc:
            if refused_ok:
                return value
            hint = f' (quote it: "{int(value):02d}")' if value.isascii() and value.isdigit() and f.pattern and \
                f.pattern.fullmatch(f"{int(value):02d}") else ""
            raise ValueError(f"{redact_card_numbers(repr(value))} could never match: the API refuses it, "
                             f"as it {' and '.join(exc.messages)}{hint}") from None
    return value


@dataclass(frozen=True)
class Condition:
    """One test on the request: `path` is a dotted request path, or "#card" / "#bin" for the card number."""
    path: str
    op: str   # equals | prefix | in | present | regex
    value: Any
    written: str = ""  # the key as the rule wrote it, for listings

    def test(self, request: dict, card_no: str | None) -> bool:
        if self.path in ("#card", "#bin"):
            actual = card_no
        else:
            actual = request
            for part in self.path.split("."):
                actual = actual.get(part) if isinstance(actual, dict) else None
                if actual is None:
                    break
        if self.op == "present":
            return (actual is not None) == self.value
        if actual is None:
            return False
        if isinstance(actual, bool):
            actual = "true" if actual else "false"
        actual = str(actual)
        if self.op == "equals":
            return actual == self.value
        if self.op == "prefix":
            return any(actual.startswith(v) for v in self.value)
        if self.op == "in":
            return actual in self.value
        if self.op == "regex":
            return self.value.search(actual) is not None
        return False

    def describe(self) -> str:
        name = {"#card": "card", "#bin": "BIN"}.get(self.path, self.written or self.path)
        if self.op == "equals":
            return f"{name} {self.value}"
        if self.op == "prefix":
            return f"{name} {'|'.join(self.value)}*" if self.path == "#bin" else f"{name} starts {'|'.join(self.value)}"
        if self.op == "in":
            return f"{name} in {'|'.join(self.value)}"
        if self.op == "present":
            return f"{name} {'present' if self.value else 'absent'}"
        return f"{name} ~ /{self.value.pattern}/"


CARD_PATH = "paymentMethodDetail.card.cardNo"


def _card_values(key: str, value) -> list[str]:
    """cardNo / bin values: digits; a card number must be able to pass validation."""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError("an empty list matches nothing")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (str, int)) or not str(v).isdigit():
            raise ValueError('must be digits (quote them: "405469")' if key == "bin"
                             else "must be a card number of 12 to 19 digits")
        v = str(v)
        if key == "bin":
            if not 1 <= len(v) <= 11:
                raise ValueError(f"a BIN prefix has 1 to 11 digits, not {len(v)}")
        elif not 12 <= len(v) <= 19:
            raise ValueError(f"{v} is not 12 to 19 digits")
        elif not luhn_ok(v):
            raise ValueError(f"{v} fails the Luhn check, which vaultPaymentMethod refuses "
                             "with PARAM_ILLEGAL: this rule could never match")
        out.append(v)
    return out


def compile_match(match, api: str, refused_ok: bool = False) -> tuple[list[Condition], dict]:
    """The `match:` mapping -> conditions, plus errors shaped like the YAML (for line numbers).

    Keys: `cardNo` (one number or a list), `bin` (a prefix or a list), or a
    request field path (dotted, abbreviable, or nested mappings). Values: a
    scalar (equals), a list (any of), or one operator: equals, prefix, in,
    present, regex."""
    conditions: list[Condition] = []
    errors: dict = {}
    if not isinstance(match, dict):
        return [], {"_": ["match must be a mapping of field: value"]}
    schema = _request_schema(api)
    has_card = schema is None or any(p.endswith("cardNo") for p in _schema_paths(schema))

    def walk(mapping: dict, prefix: str, err: dict) -> None:
        for key, value in mapping.items():
            if not isinstance(key, str):
                err[str(key)] = ["match keys must be field names"]
                continue
            try:
                if not prefix and key == "bin":
                    if not has_card:
                        raise ValueError(f"{api} requests carry no card number")
                    conditions.append(Condition("#bin", "prefix", tuple(_card_values("bin", value))))
                    continue
                if isinstance(value, dict) and not _is_operator_map(value):
                    sub: dict = {}
                    walk(value, prefix + key + ".", sub)
                    if sub:
                        err[key] = sub
                    continue
                path, f, problem = resolve_path(api, prefix + key)
                if problem:
                    raise ValueError(problem)
                if isinstance(value, dict) and len(value) == 1 and set(value) <= {"equals", "in"}:
                    (op, arg), = value.items()
                    if path in (CARD_PATH, "cardNo") and (op == "equals" or isinstance(arg, list)):
                        value = arg  # {equals: n} and {in: [...]} are the plain forms, Luhn-checked
                if path in (CARD_PATH, "cardNo") and not isinstance(value, dict):
                    numbers = _card_values("cardNo", value)
                    conditions.append(Condition("#card", "equals", numbers[0]) if len(numbers) == 1
                                      else Condition("#card", "in", tuple(numbers)))
                    continue
                conditions.append(replace(_condition(path, value, f, refused_ok), written=prefix + key))
            except ValueError as exc:
                err[key] = [str(exc)]

    walk(match, "", errors)
    return conditions, errors


def _condition(path: str, value, f, refused_ok: bool = False) -> Condition:
    if isinstance(f, fields.Nested) and not (isinstance(value, dict) and list(value) == ["present"]):
        raise ValueError(f"{path} is an object: match one of its fields, or use {{present: true|false}}")
    if isinstance(value, list):
        if not value:
            raise ValueError("an empty list matches nothing")
        return Condition(path, "in", tuple(_normalise(v, f, refused_ok) for v in value))
    if not isinstance(value, dict):
        return Condition(path, "equals", _normalise(value, f, refused_ok))
    if len(value) != 1:
        raise ValueError(f"give one operator of {', '.join(MATCH_OPERATORS)}")
    (op, arg), = value.items()
    if op == "present":
        if not isinstance(arg, bool):
            raise ValueError("present must be true or false")
        return Condition(path, "present", arg)
    if op == "regex":
        if not isinstance(arg, str):
            raise ValueError("regex must be a string")
        try:
            return Condition(path, "regex", re.compile(arg))
        except re.error as exc:
            raise ValueError(f"regex does not compile: {exc}") from None
    if op == "in":
        if not isinstance(arg, list) or not arg:
            raise ValueError("in must be a non-empty list")
        return Condition(path, "in", tuple(_normalise(v, f, refused_ok) for v in arg))
    if op == "prefix":
        items = arg if isinstance(arg, list) else [arg]
        prefixes = tuple(_normalise(v, None) for v in items)
        if isinstance(f, AmsString) and f.choices and f.ignore_case:  # the API loads them upper-cased
            prefixes = tuple(p.upper() for p in prefixes)
        return Condition(path, "prefix", prefixes)
    return Condition(path, "equals", _normalise(arg, f, refused_ok))


class RuleSchema(Strict):
    name = Text(validate=Regexp(r"[A-Za-z0-9_.:\-]{1,64}", error="must be 1 to 64 letters, digits or _ . : -"))
    description = Text(validate=[Length(1, 200), _one_line])
    api = Text(load_default=DEFAULT_API, validate=OneOf(tuple(API_CODES), error="must be one of "
                                                        + ", ".join(API_CODES)))
    match = fields.Raw(load_default=dict)
    outcome = fields.Nested(OutcomeSchema)
    sequence = fields.List(fields.Nested(OutcomeSchema), validate=Length(min=1, error="must not be empty"))
    afterSequence = Text(validate=OneOf(SEQUENCE_AFTER, error="must be repeatLast or cycle"))

    @validates_schema
    def _check(self, data, **kwargs):
        errors: dict = {}
        if ("outcome" in data) == ("sequence" in data):
            errors["outcome"] = ["give exactly one of outcome or sequence"]
        if "afterSequence" in data and "sequence" not in data:
            errors["afterSequence"] = ["afterSequence only goes with a sequence"]
        api = data["api"]
        if "outcome" in data:
            problems = outcome_problems(data["outcome"], api)
            if problems:
                errors["outcome"] = problems
        for i, item in enumerate(data.get("sequence") or ()):
            problems = outcome_problems(item, api)
            if problems:
                errors.setdefault("sequence", {})[i] = problems
        specs = data.get("sequence") or ([data["outcome"]] if "outcome" in data else [])
        _, match_errors = compile_match(data["match"], api, refusal_rule(specs))
        if match_errors:
            errors["match"] = match_errors
        if errors:
            raise ValidationError(errors)


class FileSchema(Strict):
    version = fields.Integer(strict=True, validate=OneOf((1,), error="must be 1"))
    description = Text()
    default = fields.Nested(OutcomeSchema)
    rules = fields.List(fields.Nested(RuleSchema), load_default=list)

    @validates_schema
    def _check(self, data, **kwargs):
        errors: dict = {}
        if "default" in data:
            problems = outcome_problems(data["default"], DEFAULT_API)
            if problems:
                errors["default"] = problems
        seen: dict[str, int] = {}
        for i, rule in enumerate(data.get("rules") or ()):
            name = rule.get("name")
            if name is None:
                continue
            if name in seen:
                errors.setdefault("rules", {})[i] = {"name": [f"name {name!r} is already used by rule {seen[name] + 1}"]}
            seen.setdefault(name, i)
        if errors:
            raise ValidationError(errors)


FILE_SCHEMA = FileSchema()

# -- YAML with line numbers ------------------------------------------------------------

class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The safe loader. A value it cannot build (a date that does not exist, an integer
    of more digits than Python converts, `!!int abc`) is a MarkedYAMLError naming the
    value's line, as an unknown tag already is, instead of a bare ValueError."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except yaml.MarkedYAMLError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever a constructor raises, it is this value's fault
            reason = str(exc).split(";")[0]
            raise yaml.constructor.ConstructorError(None, None, f"this value cannot be read: {reason}",
                                                    node.start_mark) from None


# What a scenario document may be, checked on the YAML events before any node is built:
# libyaml's composer recurses once per level (a body of 100000 "[" overflowed the C
# stack and killed the process; past ~1000 levels the Python passes after it raised
# RecursionError), and each alias stands for its whole anchored value, so ten levels
# of ten aliases ("billion laughs") stand for 10**10 values to walk.
MAX_DEPTH = 64               # lists and mappings inside each other, aliases followed
MAX_ALIASED_VALUES = 100_000  # values the aliases of one file stand for, all together


def _check_shape(text: str, source: str) -> None:
    """ScenarioError, naming the line, for a document nested too deep, an alias inside the
    value it names (a loop), or aliases standing for too many values. Stops at the first
    event past a limit, so a huge body costs no more than its first lines."""
    def refuse(event, message: str):
        raise ScenarioError([Issue(source, event.start_mark.line + 1, None, message)])

    known: dict[str, tuple[int, int]] = {}  # anchor -> (values, levels) of the value it names
    open_: list[list] = []                   # [anchor, values, levels] of each open list or mapping
    aliased = 0

    def close(values: int, levels: int) -> None:
        if open_:
            open_[-1][1] += values
            open_[-1][2] = max(open_[-1][2], levels + 1)

    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            if len(open_) >= MAX_DEPTH:
                refuse(event, f"lists and mappings nest more than {MAX_DEPTH} levels deep")
            open_.append([event.anchor, 1, 1])
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, values, levels = open_.pop()
            if anchor is not None:
                known[anchor] = (values, levels)
            close(values, levels)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                known[event.anchor] = (1, 0)
            close(1, 0)
        elif isinstance(event, yaml.AliasEvent):
            if any(anchor == event.anchor for anchor, _, _ in open_):
                refuse(event, f"the alias *{event.anchor} is inside the value &{event.anchor} names (a loop)")
            if event.anchor not in known:
                continue  # an undefined alias: the composer names it
            values, levels = known[event.anchor]
            if len(open_) + levels > MAX_DEPTH:
                refuse(event, f"lists and mappings nest more than {MAX_DEPTH} levels deep "
                              f"(with what *{event.anchor} stands for)")
            aliased += values
            if aliased > MAX_ALIASED_VALUES:
                refuse(event, f"the aliases stand for more than {MAX_ALIASED_VALUES} values in all")
            close(values, levels)


def _line_of(node, path: tuple) -> int | None:
    """The line of the deepest YAML node on `path` (a mapping entry: the line of its key)."""
    line = node.start_mark.line + 1 if node is not None else None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(step):
                    line, node = key_node.start_mark.line + 1, value_node
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _duplicate_keys(node, issues: list, source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    issues.append(Issue(source, key_node.start_mark.line + 1, None,
                                        f"{key_node.value} appears twice in the same mapping"))
                seen.add(key_node.value)
            _duplicate_keys(value_node, issues, source)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _duplicate_keys(item, issues, source)


def _path_text(path: tuple) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


# -- compiled rules --------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    source: str
    line: int
    index: int             # 0-based position in its file
    api: str
    name: str | None
    description: str | None
    conditions: tuple[Condition, ...]
    match: dict            # as written, for listings
    outcomes: tuple[Outcome, ...]
    sequence: bool
    after: str
    specs: tuple[dict, ...]  # the outcomes as written, for listings

    @property
    def label(self) -> str:
        return f"{self.source}:{self.line}" + (f" {self.name}" if self.name else "")

    @property
    def state_key(self) -> str:
        return f"{self.source}#{self.name or self.line}"

    def matches(self, request: dict, card_no: str | None) -> bool:
        return all(c.test(request, card_no) for c in self.conditions)

    def card_numbers(self) -> list[str]:
        for c in self.conditions:
            if c.path == "#card":
                return [c.value] if c.op == "equals" else list(c.value)
        return []

    def describe(self) -> dict:
        """A row of the catalogue, as `scenarios list --json` and the admin API show it."""
        return {
            "source": self.source, "line": self.line, "name": self.name, "api": self.api,
            "description": self.description,
            "match": " and ".join(c.describe() for c in self.conditions) or "(any request)",
            "matchSpec": self.match,
            "cards": self.card_numbers(),
            "outcome": " then ".join(_outcome_text(o) for o in self.outcomes)
                       + (" (then cycle)" if self.sequence and self.after == "cycle" else ""),
            "resultStatus": self.outcomes[0].result_status if not self.sequence else None,
            "resultCode": self.outcomes[0].result_code if not self.sequence else None,
            "sequence": [dict(s) for s in self.specs] if self.sequence else None,
            "spec": dict(self.specs[0]) if not self.sequence else None,
        }


def _outcome_text(o: Outcome) -> str:
    if o.fault and not o.processed:
        text = f"{o.fault.replace('_', ' ').upper()} (nothing stored)"
        return text + (f" after {o.delay_ms} ms" if o.delay_ms else "")
    text = f"{o.result_status} {o.result_code}"
    if o.result_code in FAIL_VAULT_CODES and o.reason:
        text += f" ({o.reason})"
    card = ", ".join(v for v in (o.brand, o.issuing_country, "any expiry" if o.any_expiry else None) if v)
    if card:
        text += f" ({card})"
    if o.result_code == "VERIFICATION_IN_PROCESS":
        text += " [" + (", ".join(o.urls) if o.urls else "no URLs") + "]"
        for action, value, default in (("authenticate", o.challenge_success, "SUCCESS"),
                                       ("fail", o.challenge_fail, "USER_PAYMENT_VERIFICATION_FAILED"),
                                       ("cancel", o.challenge_cancel, "USER_PAYMENT_VERIFICATION_FAILED"),
                                       ("expire", o.challenge_expire, "USER_PAYMENT_VERIFICATION_FAILED")):
            if value != default:
                text += f" {action}->{value}"
        if o.challenge_otp:
            text += f" code {o.challenge_otp}"
    if o.fault:
        text += f", answer lost: {o.fault.replace('_', ' ').upper()}"
    if o.delay_ms:
        text += f" after {o.delay_ms} ms"
    return text


def build_outcome(spec: dict, label: str) -> Outcome:
    code = spec.get("resultCode", "SUCCESS")
    challenge = spec.get("challenge") or {}
    fault = spec.get("fault")
    return Outcome(
        result_code=code,
        result_message=spec.get("resultMessage"),
        reason=spec.get("reason"),
        urls=tuple(spec.get("urls", ("normalUrl",))) if code == "VERIFICATION_IN_PROCESS" else (),
        challenge_success=challenge.get("authenticate", "SUCCESS"),
        challenge_fail=challenge.get("fail", "USER_PAYMENT_VERIFICATION_FAILED"),
        challenge_cancel=challenge.get("cancel", "USER_PAYMENT_VERIFICATION_FAILED"),
        challenge_expire=challenge.get("expire", "USER_PAYMENT_VERIFICATION_FAILED"),
        challenge_otp=challenge.get("otp"),
        delay_ms=spec.get("delayMs", 0),
        fault=fault,
        processed=spec.get("processed", FAULT_PROCESSED_DEFAULT.get(fault, True)),
        brand=spec.get("brand"),
        funding=spec.get("funding", "CREDIT"),
        issuing_country=spec.get("issuingCountry"),
        any_expiry=spec.get("expiry") == "any",
        rule=label,
    )


class RuleIndex:
    """Rules by API and card number, so that a request is only tested against the rules
    that could match it (the order of the rules, and so first-match-wins, is kept)."""

    def __init__(self, rules: list[Rule]):
        self._by_api: dict[str, tuple[list, dict]] = {}
        for position, rule in enumerate(rules):
            generic, by_card = self._by_api.setdefault(rule.api, ([], {}))
            cards = rule.card_numbers()
            if cards:
                for card in cards:
                    by_card.setdefault(card, []).append((position, rule))
            else:
                generic.append((position, rule))

    def candidates(self, api: str, card_no: str | None) -> list[tuple[int, Rule]]:
        generic, by_card = self._by_api.get(api, ((), {}))
        specific = by_card.get(card_no) if card_no else None
        if not specific:
            return generic
        return sorted([*generic, *specific], key=lambda item: item[0])

    def card_takes_any_expiry(self, api: str, card_no: str) -> bool | None:
        """`expiry: any` on the first rule written for this card number; None: no such rule."""
        _, by_card = self._by_api.get(api, ((), {}))
        rules = by_card.get(card_no)
        return any(o.any_expiry for o in rules[0][1].outcomes) if rules else None

    def first_match(self, api: str, request: dict, card_no: str | None) -> Rule | None:
        for _, rule in self.candidates(api, card_no):
            if rule.matches(request, card_no):
                return rule
        return None


@dataclass
class ScenarioSet:
    """The rules of one file (or one client's run-time set), in order."""
    source: str
    rules: list[Rule]
    default: Outcome | None = None
    default_spec: dict | None = None
    description: str | None = None

    def __post_init__(self):
        self.index = RuleIndex(self.rules)


def parse(text: str, source: str) -> ScenarioSet:
    """Validate and compile one scenario document; raise ScenarioError naming file, line and rule."""
    try:
        _check_shape(text, source)
        node = yaml.compose(text, Loader=_Loader)
        if node is not None:
            issues: list[Issue] = []
            _duplicate_keys(node, issues, source)
            if issues:
                raise ScenarioError(issues)
            data = _Loader("").construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = exc.context
        if context and exc.context_mark is not None and exc.problem_mark is not None \
                and exc.context_mark.line != exc.problem_mark.line:
            context += f" (from line {exc.context_mark.line + 1})"
        problem = ": ".join(p for p in (context, exc.problem) if p)
        raise ScenarioError([Issue(source, mark.line + 1 if mark else None, None, f"invalid YAML: {problem}")]) \
            from None
    except yaml.YAMLError as exc:
        raise ScenarioError([Issue(source, None, None, f"invalid YAML: {exc}")]) from None
    if node is None:
        raise ScenarioError([Issue(source, 1, None, "the file is empty; expected a mapping with rules:")])
    if not isinstance(data, dict):
        raise ScenarioError([Issue(source, node.start_mark.line + 1, None,
                                   "expected a mapping with rules: (and optionally default:, version:)")])
    try:
        loaded = FILE_SCHEMA.load(data)
    except ValidationError as exc:
        raw_rules = data.get("rules") if isinstance(data.get("rules"), list) else []
        for path, message in flatten_errors(exc.messages):
            rule = None
            rest = path
            if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
                i = path[1]
                raw = raw_rules[i] if i < len(raw_rules) else None
                name = raw.get("name") if isinstance(raw, dict) else None
                rule = f"rule {i + 1}" + (f" \"{name}\"" if isinstance(name, str) else "")
                rest = path[2:]
            if message == "Unknown field.":
                message = "unknown key"
            elif message == "Missing data for required field.":
                message = "is required"
            elif message.startswith("Not a valid"):
                message = message.replace("Not a valid", "must be a").rstrip(".")
            text_path = _path_text(rest)
            issues.append(Issue(source, _line_of(node, path), rule,
                                f"{text_path}: {message}" if text_path else message))
        raise ScenarioError(issues) from None

    rules = []
    for i, spec in enumerate(loaded["rules"]):
        line = _line_of(node, ("rules", i)) or 1
        api = spec["api"]
        specs = tuple(spec["sequence"]) if "sequence" in spec else (spec["outcome"],)
        conditions, _ = compile_match(spec["match"], api, refusal_rule(specs))
        label = f"{source}:{line}" + (f" {spec['name']}" if spec.get("name") else "")
        rules.append(Rule(
            source=source, line=line, index=i, api=api, name=spec.get("name"),
            description=spec.get("description"), conditions=tuple(conditions), match=spec["match"],
            outcomes=tuple(build_outcome(s, label) for s in specs), sequence="sequence" in spec,
            after=spec.get("afterSequence", "repeatLast"), specs=specs))
    default = build_outcome(loaded["default"], f"{source}: default") if "default" in loaded else None
    return ScenarioSet(source, rules, default, loaded.get("default"), loaded.get("description"))


def scenario_files(path: str | Path) -> list[Path]:
    """A file, or the *.yaml / *.yml files of a folder in name order."""
    p = Path(path)
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.is_file() and f.suffix in (".yaml", ".yml"))
    return [p]


def load_paths(paths: Iterable[str | Path]) -> list[ScenarioSet]:
    """Load every file under `paths`; raise one ScenarioError with the problems of all of them."""
    sets, issues = [], []
    for path in paths:
        p = Path(path)
        if not p.exists():
            issues.append(Issue(str(path), None, None, "no such file or folder"))
            continue
        files = scenario_files(p)
        if p.is_dir() and not files:
            issues.append(Issue(str(path), None, None, "the folder holds no .yaml or .yml file"))
        for f in files:
            try:
                sets.append(parse(f.read_text(encoding="utf-8"), str(f)))
            except ScenarioError as exc:
                issues.extend(exc.issues)
            except (OSError, UnicodeDecodeError) as exc:
                issues.append(Issue(str(f), None, None, f"cannot read: {exc}"))
    if issues:
        raise ScenarioError(issues)
    return sets


_builtin_cache: ScenarioSet | None = None


def builtin() -> ScenarioSet:
    """The catalogue shipped in the package."""
    global _builtin_cache
    if _builtin_cache is None:
        _builtin_cache = parse(BUILTIN_PATH.read_text(encoding="utf-8"), BUILTIN_LABEL)
    return _builtin_cache


# -- the engine ------------------------------------------------------------------------

class ScenarioEngine:
    """Chooses the outcome of a request: the client's run-time rules, then the
    server's files, then the built-in catalogue; first match wins."""

    def __init__(self, store=None, default: Outcome = DEFAULT_OUTCOME, paths: Iterable[str | Path] = (),
                 include_builtin: bool = True, keyring=None):
        self.store = store
        # Run-time sets may name full card numbers: with a keyring they are stored sealed (AES-GCM).
        self.keyring = keyring
        self.sets = load_paths(paths)
        if include_builtin:
            self.sets.append(builtin())
        self.rules: list[Rule] = [r for s in self.sets for r in s.rules]
        self.index = RuleIndex(self.rules)
        self.default = next((s.default for s in self.sets if s.default is not None), default)
        self._clients: dict[str, tuple[str, ScenarioSet]] = {}
        self._lock = threading.Lock()

    # -- choosing ----------------------------------------------------------------
    def choose(self, client_id: str, api: str, request: dict, card_no: str | None = None, db=None) -> Outcome:
        """The outcome of one call. With `db`, a write transaction of the store, a sequence
        counts the call in it: the caller stores what the call did in the same transaction,
        after checking that an identical call did not store it first (a replay counts for
        nothing)."""
        client_set = self.client_set(client_id)
        rule = client_set.index.first_match(api, request, card_no) if client_set else None
        if rule is None:
            rule = self.index.first_match(api, request, card_no)
        if rule is not None:
            return self._resolve(client_id, rule, db)
        if api == DEFAULT_API:
            if client_set is not None and client_set.default is not None:
                return client_set.default
            return self.default
        return DEFAULT_OUTCOME

    def takes_any_expiry(self, client_id: str, card_no: str) -> bool:
        """Whether the rules written for this very card number vault it whatever its expiry
        date (`expiry: any`), as Antom's sandbox cards: asked for when another rule, such as
        the 3DS flag, chose the outcome. The client's own set, where it has a rule for the
        card, decides, as it would in choose(); otherwise the files and the catalogue."""
        client_set = self.client_set(client_id)
        for index in ((client_set.index,) if client_set else ()) + (self.index,):
            verdict = index.card_takes_any_expiry(DEFAULT_API, card_no)
            if verdict is not None:
                return verdict
        return False

    def _resolve(self, client_id: str, rule: Rule, db=None) -> Outcome:
        if not rule.sequence:
            return rule.outcomes[0]
        if self.store is None:
            return rule.outcomes[0]
        calls = (self.store.bump_scenario_counter_in(db, client_id, rule.state_key) if db is not None
                 else self.store.bump_scenario_counter(client_id, rule.state_key))
        n = len(rule.outcomes)
        index = (calls - 1) % n if rule.after == "cycle" else min(calls - 1, n - 1)
        outcome = rule.outcomes[index]
        return replace(outcome, rule=f"{outcome.rule} (call {calls}, step {index + 1}/{n})")

    # -- per-client rule sets ------------------------------------------------------
    def client_source(self, client_id: str) -> str:
        return f"clients/{client_id}"

    def client_set(self, client_id: str) -> ScenarioSet | None:
        if self.store is None:
            return None
        version = self.store.scenario_set_version(client_id)
        if version is None:
            return None
        cached = self._clients.get(client_id)
        if cached and cached[0] == version:
            return cached[1]
        row = self.store.get_scenario_set(client_id)
        if row is None:
            return None
        compiled = parse(self._open(row["source"]), self.client_source(client_id))
        with self._lock:
            if len(self._clients) >= 1000:
                self._clients.clear()
            self._clients[client_id] = (row["version"], compiled)
        return compiled

    def client_text(self, client_id: str) -> str | None:
        """The client's rule set as it was PUT, or None."""
        row = self.store.get_scenario_set(client_id) if self.store is not None else None
        return None if row is None else self._open(row["source"])

    def _seal(self, text: str) -> str:
        return "sealed:" + self.keyring.encrypt(text, context="scenario-set") if self.keyring else text

    def _open(self, stored: str) -> str:
        if stored.startswith("sealed:"):
            return self.keyring.decrypt(stored[len("sealed:"):], context="scenario-set")
        return stored

    def put_client_set(self, client_id: str, text: str, now: float) -> ScenarioSet:
        """Validate and store a run-time rule set for one client id (replacing any
        earlier one, and restarting its sequences)."""
        compiled = parse(text, self.client_source(client_id))
        from .crypto import new_id
        self.store.put_scenario_set(client_id, self._seal(text), new_id("v"), now)
        return compiled

    def delete_client_set(self, client_id: str) -> bool:
        return self.store.delete_scenario_set(client_id)

    def reset_state(self, client_id: str | None = None) -> int:
        """Restart every sequence (of one client id, or of all)."""
        return self.store.reset_scenario_state(client_id)

    # -- listing -------------------------------------------------------------------
    def catalogue(self, client_id: str | None = None) -> dict:
        client_set = self.client_set(client_id) if client_id else None
        rules = (client_set.rules if client_set else []) + self.rules
        default = (client_set.default if client_set and client_set.default else self.default)
        return {
            "sources": ([client_set.source] if client_set else []) + [s.source for s in self.sets],
            "rules": [r.describe() for r in rules],
            "default": {"resultStatus": default.result_status, "resultCode": default.result_code,
                        "outcome": _outcome_text(default), "rule": default.rule},
        }
