"""The admin answers of the clock, the notification outbox, the scenarios and the 3DS
completion are documented as closed schemas in /_mockpay/openapi.json (not a bare
{"type": "object"}): the real answers of an app with a vault, notifications with
attempts (acknowledged, failed, scheduled, a manual resend), a client scenario set and
an advanced clock validate against them, and broken bodies do not."""
from __future__ import annotations

import copy
import re
import socket

import pytest
from jsonschema import Draft202012Validator

from mockpay import create_app
from tests.conftest import Caller
from tests.support import OWN_OK, vault_body
from tests.test_openapi import body_schema
from tests.webhook import Receiver

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
CLIENT = "SANDBOX_RESPONSES"
CHALLENGE_CARD = "4000000207000003"   # built-in rule: VERIFICATION_IN_PROCESS with every URL
SEQUENCE_CARD = "4000000101000000"

CLIENT_RULES = """\
rules:
  - name: steps
    description: success, then a lost card
    match: {cardNo: "4000000101000000"}
    sequence: [{resultCode: SUCCESS}, {resultCode: VERIFICATION_FAIL, reason: LOST_CARD}]
    afterSequence: cycle
  - name: declined
    match: {cardNo: "5162774114974622"}
    outcome: {resultCode: VERIFICATION_FAIL, reason: DO_NOT_HONOR}
default: {resultCode: SUCCESS}
"""


def dead_url() -> str:
    """A loopback URL nothing listens on: every attempt to it fails."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/notify"


def errors_of(document, path: str, method: str, status: str, body) -> list[str]:
    validator = Draft202012Validator(body_schema(document, path, "response", status, method))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]


@pytest.fixture
def world(tmp_path, merchant_keys, httpserver):
    app = create_app({"data_dir": tmp_path / "data", "testing": True, "dispatcher": False,
                      "notify_timeout": 1.0})
    svc = app.extensions["mockpay"]
    svc.clients.add(CLIENT, public_key=merchant_keys["public"])
    receiver = Receiver(svc.keyring.public_key_body)
    httpserver.expect_request(re.compile("^/"), method="POST").respond_with_handler(receiver.handle)
    ams = Caller(app, {"client_id": CLIENT, "private_key": merchant_keys["private"],
                       "alipay_public_key": svc.keyring.public_key_body})
    admin = app.test_client()
    document = admin.get("/_mockpay/openapi.json").get_json()
    put = admin.put(f"/_mockpay/clients/{CLIENT}/scenarios", data=CLIENT_RULES, content_type="application/yaml")
    assert put.status_code == 200, put.get_json()

    def vault(request_id, url, card_no=OWN_OK, metadata=None):
        body = vault_body(request_id, card_no=card_no)
        body["vaultingNotificationUrl"] = url
        if metadata:
            body["metadata"] = metadata
        return ams.call(VAULT, body)

    assert vault("ok-1", httpserver.url_for("/notify"), SEQUENCE_CARD, metadata="order-7")["result"]["resultStatus"] == "S"
    assert vault("fail-1", dead_url(), SEQUENCE_CARD)["result"]["resultCode"] == "VERIFICATION_FAIL"
    assert vault("challenge-1", httpserver.url_for("/notify"), CHALLENGE_CARD)["result"]["resultCode"] == \
        "VERIFICATION_IN_PROCESS"
    svc.dispatcher.run_once()
    yield {"app": app, "svc": svc, "admin": admin, "document": document, "put": put.get_json()}
    svc.store.close()


def checked(world, method: str, path: str, doc_path: str, status: int = 200, **kwargs):
    """Call an endpoint and validate its real answer against the document."""
    response = world["admin"].open(path, method=method.upper(), **kwargs)
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert errors_of(world["document"], doc_path, method, str(status), body) == []
    return body


def test_no_json_answer_of_the_admin_api_is_a_bare_object(world):
    loose = []
    for path, operations in world["document"]["paths"].items():
        if not path.startswith("/_mockpay/") or path == "/_mockpay/openapi.json":
            continue
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if schema == {"type": "object"}:
                    loose.append(f"{method.upper()} {path} {status}")
    assert loose == []


def test_the_clock_answers_match_the_document(world):
    before = checked(world, "get", "/_mockpay/clock", "/_mockpay/clock")
    advanced = checked(world, "post", "/_mockpay/clock/advance", "/_mockpay/clock/advance",
                       json={"seconds": 150})
    assert advanced["advancedBy"] == 150 and advanced["epoch"] >= before["epoch"] + 150
    assert advanced["dueNotificationAttempts"] == 1  # fail-1's second attempt (120 s after the first)
    checked(world, "get", "/_mockpay/clock", "/_mockpay/clock")


def test_the_notification_answers_match_the_document(world):
    svc = world["svc"]
    listed = checked(world, "get", "/_mockpay/notifications", "/_mockpay/notifications")["notifications"]
    by_id = {n["vaultingRequestId"]: n for n in listed}
    assert set(by_id) == {"ok-1", "fail-1"}
    assert by_id["ok-1"]["status"] == "delivered" and by_id["ok-1"]["attempts"][0]["state"] == "acked"
    assert by_id["ok-1"]["body"]["metadata"] == "order-7" and "paymentMethodDetail" in by_id["ok-1"]["body"]
    failing = by_id["fail-1"]
    assert [a["state"] for a in failing["attempts"]] == ["failed", "scheduled"]
    assert failing["nextAttemptAt"] is not None and failing["attempts"][0]["httpStatus"] is None

    one = f"/_mockpay/notifications/{failing['id']}"
    checked(world, "get", one, "/_mockpay/notifications/{notification_id}")
    resent = checked(world, "post", one + "/resend", "/_mockpay/notifications/{notification_id}/resend", 202)
    assert resent["attempts"][-1]["manual"] is True and resent["attempts"][-1]["scheduleIndex"] is None
    svc.dispatcher.run_once()
    after = checked(world, "get", one, "/_mockpay/notifications/{notification_id}")
    assert [a["state"] for a in after["attempts"]] == ["failed", "scheduled", "failed"]
    assert after["attempts"][-1]["error"]
    checked(world, "get", "/_mockpay/notifications?status=pending", "/_mockpay/notifications")


def test_the_scenario_answers_match_the_document(world):
    assert errors_of(world["document"], "/_mockpay/clients/{client_id}/scenarios", "put", "200", world["put"]) == []
    assert [r["name"] for r in world["put"]["rules"]] == ["steps", "declined"]
    catalogue = checked(world, "get", f"/_mockpay/scenarios?clientId={CLIENT}", "/_mockpay/scenarios")
    assert catalogue["rules"][0]["sequence"] is not None and catalogue["rules"][0]["resultStatus"] is None
    assert any(r["spec"] is not None for r in catalogue["rules"])
    checked(world, "get", "/_mockpay/scenarios", "/_mockpay/scenarios")
    mine = f"/_mockpay/clients/{CLIENT}/scenarios"
    got = checked(world, "get", mine, "/_mockpay/clients/{client_id}/scenarios")
    assert got["source"] == CLIENT_RULES
    reset = checked(world, "post", "/_mockpay/scenarios/reset", "/_mockpay/scenarios/reset", json={"clientId": CLIENT})
    assert reset["reset"] >= 1
    assert checked(world, "delete", mine, "/_mockpay/clients/{client_id}/scenarios")["deleted"] is True
    assert checked(world, "delete", mine, "/_mockpay/clients/{client_id}/scenarios")["deleted"] is False


@pytest.mark.parametrize("outcome, status", [("success", "SUCCESS"), ("fail", "FAIL")])
def test_the_challenge_completion_answer_matches_the_document(world, outcome, status):
    done = checked(world, "post", "/_mockpay/vaults/challenge-1/complete", "/_mockpay/vaults/{vaulting_request_id}/complete",
                   json={"outcome": outcome})
    assert done["vaultingStatus"] == status and done["clientId"] == CLIENT
    assert ("paymentMethodDetail" in done) == (status == "SUCCESS")
    vault = checked(world, "get", "/_mockpay/vaults/challenge-1", "/_mockpay/vaults/{vaulting_request_id}")
    assert vault["status"] == status


# -- a wrong body does not pass ----------------------------------------------------------

def _drop(key):
    return lambda body: body.pop(key)


def _set(key, value):
    return lambda body: body.__setitem__(key, value)


def _first(key, change):
    return lambda body: change(body[key][0])


BROKEN = [
    ("get", "/_mockpay/clock", {"now": "2026-01-01T00:00:00.000Z", "epoch": 1.0, "scale": 1.0, "workerPid": 1},
     [_drop("epoch"), _set("now", 5), _set("extra", 1), _set("workerPid", None)]),
    ("post", "/_mockpay/clock/advance", None, [_drop("dueNotificationAttempts"), _set("advancedBy", "10")]),
    ("get", "/_mockpay/notifications", None,
     [_first("notifications", _set("status", "sent")), _first("notifications", _drop("attempts")),
      _first("notifications", lambda n: n["attempts"][0].__setitem__("state", "done")),
      _first("notifications", lambda n: n["attempts"][0].pop("httpStatus")),
      _first("notifications", lambda n: n["body"].pop("result")),
      _first("notifications", _set("type", "notifyPayment"))]),
    ("get", "/_mockpay/notifications/{notification_id}", None, [_set("deliveredAt", 0), _drop("maxAttempts")]),
    ("post", "/_mockpay/notifications/{notification_id}/resend", None, [_set("id", "1"), _set("attempts", {})]),
    ("get", "/_mockpay/scenarios", None,
     [_drop("default"), _first("rules", _set("resultStatus", "X")), _first("rules", _drop("cards")),
      _first("rules", _set("api", "payments")), lambda b: b["default"].__setitem__("resultStatus", None)]),
    ("put", "/_mockpay/clients/{client_id}/scenarios", None, [_drop("rules"), _set("default", "SUCCESS")]),
    ("get", "/_mockpay/clients/{client_id}/scenarios", None, [_drop("source"), _set("updatedAt", None)]),
    ("delete", "/_mockpay/clients/{client_id}/scenarios", None, [_set("deleted", 1), _drop("clientId")]),
    ("post", "/_mockpay/scenarios/reset", None, [_set("reset", "all"), _set("deleted", {})]),
    ("post", "/_mockpay/vaults/{vaulting_request_id}/complete", None,
     [_set("vaultingStatus", "PROCESSING"), _drop("redirectUrl"), _set("normalUrl", "https://x"),
      lambda b: b["result"].__setitem__("resultStatus", "OK")]),
]


def real_answers(world) -> dict:
    admin = world["admin"]
    nid = admin.get("/_mockpay/notifications").get_json()["notifications"][0]["id"]
    return {
        "/_mockpay/clock/advance": admin.post("/_mockpay/clock/advance", json={"seconds": 1}).get_json(),
        "/_mockpay/notifications": admin.get("/_mockpay/notifications").get_json(),
        "/_mockpay/notifications/{notification_id}": admin.get(f"/_mockpay/notifications/{nid}").get_json(),
        "/_mockpay/notifications/{notification_id}/resend":
            admin.post(f"/_mockpay/notifications/{nid}/resend").get_json(),
        "/_mockpay/scenarios": admin.get(f"/_mockpay/scenarios?clientId={CLIENT}").get_json(),
        ("put", "/_mockpay/clients/{client_id}/scenarios"): world["put"],
        ("get", "/_mockpay/clients/{client_id}/scenarios"): admin.get(f"/_mockpay/clients/{CLIENT}/scenarios").get_json(),
        "/_mockpay/scenarios/reset": admin.post("/_mockpay/scenarios/reset", json={}).get_json(),
        "/_mockpay/vaults/{vaulting_request_id}/complete":
            admin.post("/_mockpay/vaults/challenge-1/complete", json={"outcome": "success"}).get_json(),
        ("delete", "/_mockpay/clients/{client_id}/scenarios"): admin.delete(f"/_mockpay/clients/{CLIENT}/scenarios").get_json(),
    }


def test_broken_bodies_fail_the_documented_schemas(world):
    answers = real_answers(world)
    for method, path, body, breakers in BROKEN:
        good = body if body is not None else answers.get((method, path), answers.get(path))
        assert good is not None, (method, path)
        status = "202" if path.endswith("/resend") else "200"
        assert errors_of(world["document"], path, method, status, good) == [], (method, path)
        for i, breaker in enumerate(breakers):
            bad = copy.deepcopy(good)
            breaker(bad)
            assert errors_of(world["document"], path, method, status, bad), (method, path, i, bad)
