"""Admin API: vaults, reset, the admin token, JSON errors."""
from __future__ import annotations

import pytest

from mockpay import create_app
from mockpay.admin_auth import AdminTokenMissing, check_bind, is_loopback
from mockpay.config import load_config
from tests.conftest import Caller
from tests.support import MC_OK, OWN_OK, VISA_OK, vault_body

CHALLENGE_CARD = "4000000207000003"   # VERIFICATION_IN_PROCESS with every URL

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
INQUIRE = "/ams/api/v1/vaults/inquireVaulting"


@pytest.fixture
def admin(app):
    return app.test_client()


@pytest.fixture
def other(app, services, merchant_keys):
    """A second client, with the same key pair (key generation is slow)."""
    services.clients.add("OTHER", public_key=merchant_keys["public"])
    return Caller(app, {"client_id": "OTHER", "private_key": merchant_keys["private"],
                        "alipay_public_key": services.keyring.public_key_body})


def error_of(response, status: int, code: str) -> str:
    assert response.status_code == status, response.data
    assert response.content_type.startswith("application/json")
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    return body["error"]["message"]


class TestVaults:
    def test_list_shows_the_masked_card_only(self, admin, ams):
        ams.call(VAULT, vault_body("v-1", card_no=VISA_OK))
        response = admin.get("/_mockpay/vaults")
        assert response.status_code == 200
        assert VISA_OK not in response.get_data(as_text=True)
        vaults = response.get_json()["vaults"]
        assert len(vaults) == 1
        v = vaults[0]
        assert v["clientId"] == "SANDBOX_TEST" and v["vaultingRequestId"] == "v-1"
        assert v["status"] == "SUCCESS" and v["result"]["resultCode"] == "SUCCESS"
        assert v["card"]["masked"] == "405469******0768" and v["card"]["brand"] == "VISA"
        assert v["cardToken"] == v["paymentMethodDetail"]["card"]["cardToken"]
        assert v["notificationUrl"] == "https://merchant.example/notify"
        assert v["createdAt"].endswith("+00:00")
        assert "card_enc" not in str(v) and "'cvv'" not in str(v).lower()  # as a key; tokens are random

    def test_filters_and_paging(self, admin, ams, other):
        ams.call(VAULT, vault_body("a-1"))
        ams.call(VAULT, vault_body("a-2", OWN_OK, expiryYear="20"))  # expired: FAIL
        other.call(VAULT, vault_body("b-1", card_no=MC_OK))
        ids = lambda **q: [v["vaultingRequestId"] for v in admin.get("/_mockpay/vaults", query_string=q)
                           .get_json()["vaults"]]
        assert ids() == ["b-1", "a-2", "a-1"]
        assert ids(clientId="SANDBOX_TEST") == ["a-2", "a-1"]
        assert ids(status="FAIL") == ["a-2"]
        assert ids(limit=1, offset=1) == ["a-2"]

    @pytest.mark.parametrize("query, field", [({"status": "DONE"}, "status"), ({"limit": "0"}, "limit"),
                                              ({"offset": "x"}, "offset")])
    def test_bad_filters(self, admin, query, field):
        message = error_of(admin.get("/_mockpay/vaults", query_string=query), 400, "BAD_REQUEST")
        assert field in message

    def test_show_one(self, admin, ams):
        ams.call(VAULT, vault_body("one", card_no=MC_OK))
        response = admin.get("/_mockpay/vaults/one")
        assert response.status_code == 200
        v = response.get_json()
        assert v["vaultingRequestId"] == "one" and v["card"]["masked"] == "516277******4622"
        assert MC_OK not in response.get_data(as_text=True)

    @pytest.mark.parametrize("request_id", ["order/42", "a/b/c", "trailing/"])
    def test_an_id_with_slashes_is_reachable(self, admin, ams, services, request_id):
        ams.call(VAULT, vault_body(request_id, card_no=CHALLENGE_CARD))
        from urllib.parse import quote
        for path in (request_id, quote(request_id, safe="")):  # as typed, or escaped as mockpay.testing does
            shown = admin.get(f"/_mockpay/vaults/{path}")
            assert shown.status_code == 200, shown.data
            assert shown.get_json()["vaultingRequestId"] == request_id
        done = admin.post(f"/_mockpay/vaults/{quote(request_id, safe='')}/complete", json={"outcome": "success"})
        assert done.status_code == 200, done.data
        assert done.get_json()["vaultingStatus"] == "SUCCESS"

    def test_show_unknown(self, admin):
        assert "nope" in error_of(admin.get("/_mockpay/vaults/nope"), 404, "NOT_FOUND")

    def test_same_id_for_two_clients_needs_client_id(self, admin, ams, other):
        ams.call(VAULT, vault_body("shared"))
        other.call(VAULT, vault_body("shared", card_no=MC_OK))
        message = error_of(admin.get("/_mockpay/vaults/shared"), 409, "CONFLICT")
        assert "OTHER" in message and "SANDBOX_TEST" in message and "clientId" in message
        v = admin.get("/_mockpay/vaults/shared?clientId=OTHER").get_json()
        assert v["clientId"] == "OTHER" and v["card"]["brand"] == "MASTERCARD"
        error_of(admin.get("/_mockpay/vaults/shared?clientId=NOBODY"), 404, "NOT_FOUND")


    def test_an_overdue_challenge_reads_as_failed_as_inquire_vaulting_says(self, admin, ams, services):
        # the dispatcher is off here: nothing but the read itself can fail the overdue challenge
        ams.call(VAULT, vault_body("late", card_no=CHALLENGE_CARD))
        ams.call(VAULT, vault_body("open", card_no=CHALLENGE_CARD))
        assert admin.get("/_mockpay/vaults/late").get_json()["status"] == "PROCESSING"
        services.clock.advance(services.config.challenge_ttl + 1)
        shown = admin.get("/_mockpay/vaults/late?clientId=SANDBOX_TEST").get_json()
        assert (shown["status"], shown["vaultingResultCode"]) == ("FAIL", "USER_PAYMENT_VERIFICATION_FAILED")
        listed = {v["vaultingRequestId"]: v["status"] for v in admin.get("/_mockpay/vaults").get_json()["vaults"]}
        assert listed == {"late": "FAIL", "open": "FAIL"}
        inquired = ams.call(INQUIRE, {"vaultingRequestId": "open"})
        assert (inquired["vaultingStatus"], inquired["vaultingResultCode"]) == \
               ("FAIL", "USER_PAYMENT_VERIFICATION_FAILED")
        assert len(services.notifier.list(vaulting_request_id="late")) == 1  # failed once, notified once


class TestReset:
    @pytest.fixture
    def filled(self, ams, other):
        ams.call(VAULT, vault_body("r-1"))
        ams.call(INQUIRE, {"vaultingRequestId": "r-1"})
        other.call(VAULT, vault_body("r-2"))
        return ams

    def test_reset_one_client(self, admin, services, filled):
        response = admin.post("/_mockpay/reset", json={"clientId": "SANDBOX_TEST"})
        assert response.status_code == 200
        out = response.get_json()
        assert out["reset"] == "SANDBOX_TEST"
        assert out["deleted"]["vaults"] == 1 and out["deleted"]["journal"] == 2
        assert [v["clientId"] for v in services.state.vaults()] == ["OTHER"]
        assert {e["clientId"] for e in services.journal.entries()} == {"OTHER"}
        # the client itself stays registered and usable
        assert filled.call(INQUIRE, {"vaultingRequestId": "r-1"})["result"]["resultCode"] == "VAULTING_NOT_EXIST"

    @pytest.mark.parametrize("kwargs", [{}, {"json": {}}])
    def test_reset_everything_keeps_clients_and_keys(self, admin, services, filled, kwargs):
        public_key = services.keyring.public_key_body
        out = admin.post("/_mockpay/reset", **kwargs).get_json()
        assert out["reset"] == "all" and out["deleted"]["vaults"] == 2 and out["deleted"]["journal"] == 3
        assert services.state.vaults() == [] and services.journal.entries() == []
        assert [r["client_id"] for r in services.clients.list()] == ["OTHER", "SANDBOX_TEST"]
        assert services.keyring.public_key_body == public_key
        assert filled.call(VAULT, vault_body("r-1"))["result"]["resultCode"] == "SUCCESS"

    def test_notifications_and_their_attempts_go_with_the_client(self, admin, services, filled):
        """notification_attempts has no client_id: it goes by its ON DELETE CASCADE."""
        assert len(services.notifier.list(client_id="SANDBOX_TEST")) == 1
        out = admin.post("/_mockpay/reset", json={"clientId": "SANDBOX_TEST"}).get_json()
        assert out["deleted"]["notifications"] == 1
        assert services.notifier.list(client_id="SANDBOX_TEST") == []
        others = services.notifier.list(client_id="OTHER")
        assert len(others) == 1 and len(others[0]["attempts"]) == 1
        everything = admin.post("/_mockpay/reset").get_json()["deleted"]
        assert everything["notifications"] == 1 and everything["notification_attempts"] == 1

    def test_run_time_scenario_sets_go_with_the_client(self, admin, services, filled):
        rules = ('rules:\n  - match: {cardNo: "%s"}\n'
                 '    outcome: {resultCode: VERIFICATION_FAIL, reason: STOLEN_CARD}\n' % VISA_OK)
        for client_id in ("SANDBOX_TEST", "OTHER"):
            put = admin.put(f"/_mockpay/clients/{client_id}/scenarios", data=rules, content_type="application/yaml")
            assert put.status_code == 200, put.data
        assert filled.call(VAULT, vault_body("s-1"))["result"]["resultCode"] == "VERIFICATION_FAIL"
        out = admin.post("/_mockpay/reset", json={"clientId": "SANDBOX_TEST"}).get_json()
        assert out["deleted"]["scenario_sets"] == 1
        assert admin.get("/_mockpay/clients/SANDBOX_TEST/scenarios").status_code == 404
        assert admin.get("/_mockpay/clients/OTHER/scenarios").status_code == 200
        assert filled.call(VAULT, vault_body("s-1"))["result"]["resultCode"] == "SUCCESS"  # default rules again

    def test_every_per_client_table_is_reset(self, admin, services, filled):
        """A table another feature adds later, keyed by client_id, is reset without changes here."""
        db = services.store._conn()
        db.execute("CREATE TABLE later_feature (id INTEGER PRIMARY KEY, client_id TEXT NOT NULL, v TEXT)")
        db.execute("INSERT INTO later_feature (client_id, v) VALUES ('SANDBOX_TEST', 'a'), ('OTHER', 'b')")
        out = admin.post("/_mockpay/reset", json={"clientId": "OTHER"}).get_json()
        assert out["deleted"]["later_feature"] == 1
        assert [r[0] for r in db.execute("SELECT client_id FROM later_feature")] == ["SANDBOX_TEST"]

    def test_children_are_deleted_before_their_parents(self, admin, services, filled):
        db = services.store._conn()
        db.execute("CREATE TABLE a_child (id INTEGER PRIMARY KEY, client_id TEXT, "
                   "vault_id INTEGER NOT NULL REFERENCES vaults (id))")
        db.execute("INSERT INTO a_child (client_id, vault_id) SELECT client_id, id FROM vaults")
        names = [n for n, _ in services.store.state_tables()]
        assert names.index("a_child") < names.index("vaults")
        out = admin.post("/_mockpay/reset").get_json()
        assert out["deleted"]["a_child"] == 2 and out["deleted"]["vaults"] == 2

    def test_unknown_client(self, admin, services, filled):
        assert "NOBODY" in error_of(admin.post("/_mockpay/reset", json={"clientId": "NOBODY"}), 404, "NOT_FOUND")
        assert len(services.state.vaults()) == 2

    @pytest.mark.parametrize("body, needle", [({"clientid": "OTHER"}, "clientid"), ({"clientId": 5}, "clientId"),
                                              ([], "JSON object")])
    def test_bad_body_resets_nothing(self, admin, services, filled, body, needle):
        assert needle in error_of(admin.post("/_mockpay/reset", json=body), 400, "BAD_REQUEST")
        assert len(services.state.vaults()) == 2

    def test_reset_needs_post(self, admin):
        error_of(admin.get("/_mockpay/reset"), 405, "METHOD_NOT_ALLOWED")


def test_unknown_admin_path_is_a_json_404(admin):
    error_of(admin.get("/_mockpay/nothing-here"), 404, "NOT_FOUND")


class TestBindRule:
    @pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost"])
    def test_loopback(self, host):
        assert is_loopback(host)
        check_bind(load_config({"host": host}, environ={}))

    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "mockpay.internal", ""])
    def test_anything_else_needs_a_token(self, host):
        assert not is_loopback(host)
        with pytest.raises(AdminTokenMissing, match="MOCKPAY_ADMIN_TOKEN"):
            check_bind(load_config({"host": host}, environ={}))
        check_bind(load_config({"host": host, "admin_token": "s3cret"}, environ={}))

    def test_create_app_refuses_too(self, tmp_path):
        with pytest.raises(AdminTokenMissing, match="0.0.0.0"):
            create_app({"data_dir": tmp_path / "d", "host": "0.0.0.0", "dispatcher": False})

    def test_token_from_the_environment(self):
        config = load_config({"host": "0.0.0.0"}, environ={"MOCKPAY_ADMIN_TOKEN": "from-env"})
        assert config.admin_token == "from-env"
        check_bind(config)


class TestToken:
    TOKEN = "t0ken-for-tests"
    SETTINGS = {"admin_token": TOKEN, "host": "0.0.0.0"}

    @pytest.fixture
    def guarded(self, tmp_path):
        app = create_app({"data_dir": tmp_path / "d", "dispatcher": False, **self.SETTINGS})
        yield app
        app.extensions["mockpay"].store.close()

    def test_no_token_is_401(self, guarded):
        response = guarded.test_client().get("/_mockpay/vaults")
        assert "Bearer" in error_of(response, 401, "UNAUTHORIZED")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")

    @pytest.mark.parametrize("path, method", [("/_mockpay/requests", "GET"), ("/_mockpay/reset", "POST"),
                                              ("/_mockpay/clients", "GET"), ("/_mockpay/ui", "GET"),
                                              ("/_mockpay/anything", "GET")])
    def test_every_admin_path_is_guarded(self, guarded, path, method):
        error_of(guarded.test_client().open(path, method=method), 401, "UNAUTHORIZED")

    def test_wrong_token_is_401(self, guarded):
        response = guarded.test_client().get("/_mockpay/vaults", headers={"Authorization": "Bearer nope"})
        assert "wrong" in error_of(response, 401, "UNAUTHORIZED")

    def test_bearer_header(self, guarded):
        response = guarded.test_client().get("/_mockpay/vaults", headers={"Authorization": f"Bearer {self.TOKEN}"})
        assert response.status_code == 200 and response.get_json()["vaults"] == []

    def test_cookie(self, guarded):
        client = guarded.test_client()
        client.set_cookie("mockpay_admin_token", self.TOKEN, path="/_mockpay")
        assert client.get("/_mockpay/vaults").status_code == 200

    def test_query_token_from_a_browser_sets_the_cookie_and_drops_the_token(self, guarded):
        client = guarded.test_client()
        response = client.get(f"/_mockpay/vaults?status=SUCCESS&token={self.TOKEN}",
                              headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        assert response.status_code == 303
        assert response.headers["Location"] == "/_mockpay/vaults?status=SUCCESS"
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith(f"mockpay_admin_token={self.TOKEN};")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/_mockpay" in cookie
        assert client.get("/_mockpay/vaults?status=SUCCESS").status_code == 200  # the cookie now

    def test_query_token_from_a_script_answers_directly(self, guarded):
        response = guarded.test_client().get(f"/_mockpay/vaults?token={self.TOKEN}")
        assert response.status_code == 200 and "vaults" in response.get_json()

    def test_wrong_query_token_sets_no_cookie(self, guarded):
        response = guarded.test_client().get("/_mockpay/vaults?token=bad", headers={"Accept": "text/html"})
        error_of(response, 401, "UNAUTHORIZED")
        assert "Set-Cookie" not in response.headers

    def test_health_stays_open(self, guarded):
        response = guarded.test_client().get("/_mockpay/health")
        assert response.status_code == 200 and response.get_json() == {"status": "ok"}

    def test_the_ams_api_does_not_need_the_admin_token(self, make_ams):
        _, caller = make_ams(**self.SETTINGS)
        assert caller.call(VAULT, vault_body("t-1"))["result"]["resultCode"] == "SUCCESS"
        error_of(caller.http.get("/_mockpay/vaults"), 401, "UNAUTHORIZED")  # while the admin API is guarded

    def test_without_a_token_loopback_is_open(self, admin):
        assert admin.get("/_mockpay/vaults").status_code == 200


def test_answers_match_the_openapi_document(app, admin, ams, other):
    from tests.test_openapi import assert_valid
    document = admin.get("/_mockpay/openapi.json").get_json()
    ams.call(VAULT, vault_body("doc-1"))
    ams.call(VAULT, vault_body("doc-2", OWN_OK, expiryYear="20"))
    other.call(INQUIRE, {"vaultingRequestId": "missing"})
    assert_valid(document, "/_mockpay/requests", admin.get("/_mockpay/requests?limit=2").get_json(), method="get")
    assert_valid(document, "/_mockpay/vaults", admin.get("/_mockpay/vaults").get_json(), method="get")
    assert_valid(document, "/_mockpay/vaults/{vaulting_request_id}", admin.get("/_mockpay/vaults/doc-1").get_json(),
                 method="get")
    assert_valid(document, "/_mockpay/vaults/{vaulting_request_id}", admin.get("/_mockpay/vaults/x").get_json(),
                 method="get", status="4XX")
    assert_valid(document, "/_mockpay/reset", admin.post("/_mockpay/reset", json={"clientId": "OTHER"}).get_json())
    params = {p["name"] for p in document["paths"]["/_mockpay/requests"]["get"]["parameters"]}
    assert params == {"clientId", "path", "api", "vaultingRequestId", "resultCode", "limit", "before"}
    assert "application/x-pem-file" in document["paths"]["/_mockpay/ca.pem"]["get"]["responses"]["200"]["content"]


def test_a_json_body_without_a_json_content_type_is_named_as_such(admin):
    response = admin.post("/_mockpay/clients", data='{"clientId": "SANDBOX_FORM"}',
                          content_type="application/x-www-form-urlencoded")  # curl -d's default
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "BAD_REQUEST"
    assert error["message"] == "content-type must be application/json (got application/x-www-form-urlencoded)"


def test_the_content_type_named_in_an_error_never_carries_a_card_number(admin):
    response = admin.post("/_mockpay/clients", data='{"clientId": "SANDBOX_FORM"}',
                          content_type="text/4054695723100768")
    message = response.get_json()["error"]["message"]
    assert "4054695723100768" not in message and message.startswith("content-type must be application/json")


@pytest.mark.parametrize("path, body, takes", [
    ("/_mockpay/clients", {"clientId": "TYPO", "publicKy": "x"}, "clientId, publicKey"),
    ("/_mockpay/clock/advance", {"seconds": 60, "second": 60}, "seconds"),
    ("/_mockpay/scenarios/reset", {"client": "SANDBOX_TEST"}, "clientId"),
    ("/_mockpay/vaults/adm-typo/complete", {"outcome": "success", "otpp": "000000"}, "outcome, clientId, otp"),
    ("/_mockpay/reset", {"clientID": "SANDBOX_TEST"}, "clientId"),
])
def test_a_field_the_admin_body_does_not_take_is_refused_and_nothing_is_done(admin, ams, services, path, body,
                                                                             takes):
    """The views read the fields they know and ignored the rest, so a typo was a different
    call: {"otpp": ...} completed a challenge without checking its code, {"client": ...}
    restarted every client's sequences. Only /reset refused unknown fields."""
    ams.call(VAULT, vault_body("adm-typo", CHALLENGE_CARD))
    clock_before = services.clock.now()
    typo = next(k for k in body if k not in takes.split(", "))
    message = error_of(admin.post(path, json=body), 400, "BAD_REQUEST")
    assert message == f"unknown field {typo!r}; the body takes {takes}"
    assert services.clients.get("TYPO") is None
    assert services.clock.now() - clock_before < 30
    assert ams.call(INQUIRE, {"vaultingRequestId": "adm-typo"})["vaultingStatus"] == "PROCESSING"
