"""Card data at rest, in the logs and in every admin answer, after a run on a real
`mockpay serve` (gunicorn, two workers) that puts several cards through every door:
vaultPaymentMethod (success, business failure, a scenario the client PUT through the
admin API, a 3DS challenge completed through the admin API, validation failures and an
inconsistent retry), cacheCard and its token, the hosted card-binding page's form (the
number typed with spaces, and a form sent back with an error), and the notifications
that follow, delivered to a real receiver.

Then the test greps for every full card number (plain, and grouped with spaces or dashes)
and every CVV:
- in every file of the data directory, the SQLite WAL included, while the server runs
  and again after it stopped; and cell by cell through SQL (no CVV value, no JSON with a
  cvv or securityCode key, no column meant for one);
- in the server's log;
- in every admin API answer: each GET of the OpenAPI document (so endpoints added later
  are covered without a change here) and the answers of the admin POSTs the run made;
  and in the dashboard's pages (/_mockpay/ui), each vault's timeline included;
- in every notification the merchant received.

A CVV is 3 or 4 digits, which random bytes and timestamps also hold; so it is looked for
where a leak would put it: quoted ("735"), after a cvv or securityCode key, or as a whole
stored value.

Scenario rules the operator writes name card numbers; the two scenario endpoints
(GET /_mockpay/scenarios, GET /_mockpay/clients/{id}/scenarios) give the rules back as
written, and so does the dashboard's scenarios page. Those may show the numbers the
rules name, and no other.
"""
from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from mockpay.cards import luhn_complete
from tests.support import MC_OK, VISA_OK, ServerProcess, ams_call, cache_body, session_body, vault_body
from tests.webhook import admin, mount, receiver_server, register, wait_until

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
INQUIRE = "/ams/api/v1/vaults/inquireVaulting"
CACHE = "/ams/api/v1/paymentMethods/cacheCard"
SESSION = "/ams/api/v1/vaults/createVaultingSession"

AMEX = "378282246310005"
FAIL_VISA = "4054692760174822"          # the catalogue's failure card
SCENARIO_CARD = luhn_complete("422222000012345")  # named by the client's own rule
CHALLENGE_CARD = luhn_complete("455555000067890")
CACHED_CARD = luhn_complete("520000000099887")
HOSTED_CARD = luhn_complete("555544443333222")
BAD_LUHN = VISA_OK[:-1] + "9"

CLIENT_RULES = f"""\
rules:
  - description: the client's own declined card
    match: {{cardNo: "{SCENARIO_CARD}"}}
    outcome: {{resultCode: VERIFICATION_FAIL, reason: LOST_CARD}}
"""


def grouped(number: str, sep: str) -> str:
    return sep.join(number[i:i + 4] for i in range(0, len(number), 4))


def appearances(number: str) -> list[bytes]:
    return [number.encode(), grouped(number, " ").encode(), grouped(number, "-").encode()]


def cvv_after_key(cvvs) -> re.Pattern:
    """One of the run's CVVs after a cvv or securityCode key. Only the run's own: any three
    digits after "cvv" (case aside) turn up in random base64 (a key, a sealed card, a
    signature) about once in 3.5 million characters, and a run reads some 17,000 of them."""
    values = b"|".join(re.escape(c.encode()) for c in sorted(cvvs, key=len, reverse=True))
    return re.compile(rb'(?i)(cvv|cvc|securitycode|security_code)\W{0,8}(' + values + rb')(?!\d)')


class Run:
    """What the run used, and everything it saw come back."""

    def __init__(self):
        self.cards: set[str] = set()
        self.cvvs: set[str] = set()
        self.admin_answers: dict[str, bytes] = {}  # "METHOD path" -> body

    def card(self, number: str, cvv: str) -> tuple[str, str]:
        self.cards.add(number)
        self.cvvs.add(cvv)
        return number, cvv


def find_leaks(blob: bytes, cards, cvvs, where: str) -> list[str]:
    found = [f"{where}: card {n}" for n in cards for form in appearances(n) if form in blob]
    found += [f"{where}: CVV {c} quoted" for c in cvvs if b'"%s"' % c.encode() in blob]
    found += [f"{where}: {m.group(0)!r}" for m in cvv_after_key(cvvs).finditer(blob)] if cvvs else []
    return found


def sql_leaks(db_path: Path, cards, cvvs) -> list[str]:
    """Cell by cell: no card number, no value that is a CVV, no JSON with a CVV key, no column for one."""
    found = []
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            found += [f"{table}.{c}: a column for a CVV" for c in columns if re.search("cvv|cvc|security", c, re.I)]
            for row in db.execute(f"SELECT * FROM {table}"):
                for column, value in zip(columns, row):
                    if isinstance(value, bytes):
                        value = value.decode("latin-1")
                    if not isinstance(value, str):
                        continue
                    where = f"{table}.{column}"
                    found += [f"{where}: card {n}" for n in cards if n in value]
                    found += [f"{where}: CVV {value}" for c in cvvs if value.strip() == c]
                    if value[:1] in "{[":
                        try:
                            keys = json_keys(json.loads(value))
                        except ValueError:
                            continue
                        found += [f"{where}: JSON key {k}" for k in keys if re.search("cvv|cvc|security", k, re.I)]
    return found


def json_keys(node) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in json_keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in json_keys(v)}
    return set()


def data_dir_leaks(data_dir: Path, cards, cvvs) -> list[str]:
    found = []
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        found += find_leaks(path.read_bytes(), cards, cvvs, str(path.relative_to(data_dir)))
    return found + sql_leaks(data_dir / "mockpay.sqlite3", cards, cvvs)


@pytest.mark.slow
def test_no_card_number_and_no_cvv_at_rest_in_logs_or_in_admin_answers(tmp_path):
    run = Run()
    with receiver_server() as receiver_http:
        server = ServerProcess(tmp_path / "data", workers=2).start()
        try:
            client = register(server, "SANDBOX_AT_REST")
            server.client = client
            receiver = mount(receiver_http, client["alipayPublicKey"])
            notify_url = receiver_http.url_for("/notify")
            session = requests.Session()

            def call(path, body):
                if "vaultingNotificationUrl" in body:
                    body["vaultingNotificationUrl"] = notify_url
                return ams_call(server, path, body, session=session).json()

            def admin_post(path, body):
                response = requests.post(server.base_url + "/_mockpay" + path, data=body, timeout=30,
                                         headers={"content-type": "application/json"})
                run.admin_answers[f"POST {path}"] = response.content
                assert response.status_code < 300, response.text
                return response.json()

            # scenarios through the admin API: the client's own rule, naming a card
            put = requests.put(f"{server.base_url}/_mockpay/clients/{client['clientId']}/scenarios", data=CLIENT_RULES,
                               timeout=30)
            assert put.status_code == 200, put.text
            run.admin_answers["PUT /clients/{id}/scenarios"] = put.content

            # vaultPaymentMethod: success (three brands), the catalogue's failure, the client's scenario
            expected = {}
            for request_id, (number, cvv), code in [
                ("rest-visa", run.card(VISA_OK, "735"), "SUCCESS"),
                ("rest-mc", run.card(MC_OK, "862"), "SUCCESS"),
                ("rest-amex", run.card(AMEX, "4821"), "SUCCESS"),
                ("rest-fail", run.card(FAIL_VISA, "527"), "VERIFICATION_FAIL"),
                ("rest-scenario", run.card(SCENARIO_CARD, "319"), "VERIFICATION_FAIL"),
            ]:
                answer = call(VAULT, vault_body(request_id, number, cvv=cvv))
                assert answer["result"]["resultCode"] == code, answer
                expected[request_id] = code
            # refused: a number failing the Luhn check, a CVV too long, an inconsistent retry
            run.cards.add(BAD_LUHN)
            assert call(VAULT, vault_body("rest-bad-1", BAD_LUHN, cvv="735"))["result"]["resultCode"] == "PARAM_ILLEGAL"
            assert call(VAULT, vault_body("rest-bad-2", VISA_OK, cvv="73519"))["result"]["resultCode"] == "PARAM_ILLEGAL"
            run.cvvs.add("73519")
            assert call(VAULT, vault_body("rest-visa", MC_OK, cvv="862"))["result"]["resultCode"] == \
                "REPEAT_REQ_INCONSISTENT"

            # a 3DS challenge, completed through the admin API
            number, cvv = run.card(CHALLENGE_CARD, "604")
            answer = call(VAULT, vault_body("rest-3ds", number, cvv=cvv, is3DSAuthentication="true"))
            assert answer["result"]["resultCode"] == "VERIFICATION_IN_PROCESS", answer
            done = admin_post("/vaults/rest-3ds/complete", json.dumps({"outcome": "success"}))
            assert done["vaultingStatus"] == "SUCCESS"
            expected["rest-3ds"] = "SUCCESS"

            # cacheCard, then its token in vaultPaymentMethod
            number, code = run.card(CACHED_CARD, "517")
            cached = call(CACHE, cache_body(number, brand=None, securityCode=code))
            token = cached["paymentMethodDetail"]["card"]["cardToken"]
            body = vault_body("rest-token")
            body["paymentMethodDetail"]["card"] = {"cardToken": token, "cvv": run.card(CACHED_CARD, "248")[1]}
            assert call(VAULT, body)["result"]["resultCode"] == "SUCCESS"
            expected["rest-token"] = "SUCCESS"

            # the hosted page: a form sent back with an error, then the card typed with spaces
            number, cvv = run.card(HOSTED_CARD, "913")
            created = call(SESSION, session_body("rest-hosted"))
            page = urlsplit(created["normalUrl"]).path
            form = {"cardNumber": grouped(number, " "), "expiry": "13/30", "cvv": cvv, "cardholderName": "Ada Lovelace"}
            again = session.post(server.base_url + page, data=form, timeout=30, allow_redirects=False)
            assert again.status_code == 422
            assert not find_leaks(again.content, run.cards, run.cvvs, "the form sent back")
            form["expiry"] = "12/30"
            sent = session.post(server.base_url + page, data=form, timeout=30, allow_redirects=False)
            assert sent.status_code == 303, sent.text[:300]
            assert not find_leaks(sent.content + str(sent.headers).encode(), run.cards, run.cvvs, "the redirect")
            expected["rest-hosted"] = "SUCCESS"

            for request_id, code in expected.items():
                inquiry = call(INQUIRE, {"vaultingRequestId": request_id})
                assert inquiry["vaultingStatus"] == ("SUCCESS" if code == "SUCCESS" else "FAIL"), inquiry
                assert not find_leaks(json.dumps(inquiry).encode(), run.cards, run.cvvs, f"inquiry {request_id}")

            # every notification delivered (and read by the merchant)
            def all_delivered():
                found = admin(server, "GET", "/notifications", params={"status": "delivered", "limit": 1000})
                return {n["vaultingRequestId"] for n in found["notifications"]} >= set(expected)
            wait_until(all_delivered, timeout=30, what="every notification delivered")
            assert {c.vaulting_request_id for c in receiver.calls} >= set(expected)
            leaks = [leak for c in receiver.calls for leak in find_leaks(c.raw.encode(), run.cards, run.cvvs,
                                                                         f"notification {c.vaulting_request_id}")]

            # every admin GET the document lists, path parameters filled from this run; the dashboard
            leaks += admin_get_leaks(server, run)
            leaks += dashboard_leaks(server, run, list(expected))
            for name, body in run.admin_answers.items():
                leaks += [leak for leak in find_leaks(body, run.cards - configured(server), run.cvvs, name)]
            # the data directory while the server runs (WAL and all)
            leaks += data_dir_leaks(server.data_dir, run.cards, run.cvvs)
        finally:
            server.stop()
    leaks += data_dir_leaks(server.data_dir, run.cards, run.cvvs)  # after the checkpoint at shutdown
    log = server.log()
    assert "result=SUCCESS" in log and "notifyVaulting" in log, "the log has one line per call"
    leaks += find_leaks(log.encode(), run.cards, run.cvvs, "server log")
    assert not leaks, "\n".join(leaks)
    assert len(run.cards) == 9 and len(run.cvvs) == 10


SCENARIO_ENDPOINTS = {"/_mockpay/scenarios", "/_mockpay/clients/{client_id}/scenarios"}


def configured(server) -> set[str]:
    """Card numbers the scenario rules name (the catalogue's and the client's own)."""
    listing = admin(server, "GET", "/scenarios", params={"clientId": server.client["clientId"]})
    return {n for rule in listing["rules"] for n in rule["cards"]}


def admin_get_leaks(server, run) -> list[str]:
    document = requests.get(server.base_url + "/_mockpay/openapi.json", timeout=30).json()
    values = {"client_id": [server.client["clientId"]],
              "notification_id": [str(n["id"]) for n in admin(server, "GET", "/notifications",
                                                               params={"limit": 1000})["notifications"]],
              "vaulting_request_id": ["rest-visa", "rest-3ds", "rest-token", "rest-hosted"]}
    named = configured(server)
    leaks, seen = [], 0
    for template, operations in document["paths"].items():
        if not template.startswith("/_mockpay/") or "get" not in operations:
            continue
        params = re.findall(r"{(\w+)}", template)
        assert all(p in values for p in params), f"no value to fill {template} with: add one to this test"
        fills = [{}]
        for p in params:
            fills = [{**f, p: v} for f in fills for v in values[p]]
        for fill in fills:
            path = template.format(**fill)
            query = {"limit": 1000} if "limit" in json.dumps(operations["get"].get("parameters", [])) else None
            response = requests.get(server.base_url + path, params=query, timeout=30)
            if response.status_code == 404:
                continue  # nothing there (a scenario listing for a client without one, a CA without TLS)
            assert response.status_code == 200, (path, response.status_code, response.text[:200])
            seen += 1
            cards = run.cards - named if template in SCENARIO_ENDPOINTS else run.cards
            leaks += find_leaks(response.content, cards, run.cvvs, f"GET {path}")
    assert seen >= 10, f"only {seen} admin answers were read"
    return leaks


def dashboard_leaks(server, run, request_ids: list[str]) -> list[str]:
    """The dashboard's pages (/_mockpay/ui, server-rendered HTML), each vault's timeline included."""
    client_id = server.client["clientId"]
    pages = [("/_mockpay/ui/vaults", None), ("/_mockpay/ui/notifications", None), ("/_mockpay/ui/clock", None),
             ("/_mockpay/ui/scenarios", {"clientId": client_id}), ("/_mockpay/ui/requests", None)]
    pages += [("/_mockpay/ui/vault", {"clientId": client_id, "vaultingRequestId": rid}) for rid in request_ids]
    named = configured(server)
    leaks = []
    for path, params in pages:
        response = requests.get(server.base_url + path, params=params, timeout=30)
        assert response.status_code == 200, (path, params, response.status_code)
        cards = run.cards - named if path.endswith("/scenarios") else run.cards
        leaks += find_leaks(response.content, cards, run.cvvs, f"GET {path} {params or ''}")
    return leaks

