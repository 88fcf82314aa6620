"""The request journal: what is recorded, what is masked, filters, the cap."""
from __future__ import annotations

import json

import pytest

from mockpay.journal import Journal, redact, redact_text
from tests.support import MC_OK, VISA_OK, sdk_body, signed_headers, vault_body

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
INQUIRE = "/ams/sandbox/api/v1/vaults/inquireVaulting"


def journal(app, **params) -> dict:
    response = app.test_client().get("/_mockpay/requests", query_string=params)
    assert response.status_code == 200, response.data
    return response.get_json()


class TestRedact:
    def test_card_number_masked_and_cvv_removed(self):
        body = vault_body(card_no=VISA_OK, cvv="123")
        out = redact(body)
        card = out["paymentMethodDetail"]["card"]
        assert card["cardNo"] == "405469******0768"
        assert "cvv" not in card
        assert card["cardholderName"] == {"firstName": "Ada", "lastName": "Lovelace"}
        assert body["paymentMethodDetail"]["card"]["cardNo"] == VISA_OK  # the input is not modified

    @pytest.mark.parametrize("key", ["securityCode", "CVV", "cvc", "cardPasswordDigest", "security_code"])
    def test_every_cvv_like_key_is_removed(self, key):
        out = redact({"card": {key: "987", "other": "kept"}})
        assert out == {"card": {"other": "kept"}}

    def test_card_numbers_elsewhere_are_masked(self):
        out = redact({"metadata": f"card {VISA_OK} and 5162-7741-1497-4622", "n": int(MC_OK),
                      "list": [VISA_OK], VISA_OK: "as a key"})
        text = json.dumps(out)
        assert VISA_OK not in text and MC_OK not in text and "5162-7741-1497-4622" not in text
        assert out["metadata"] == "card 405469******0768 and 516277******4622"
        assert out["n"] == "516277******4622"
        assert out["list"] == ["405469******0768"]

    def test_identifiers_are_kept_even_when_numeric(self):
        out = redact({"vaultingRequestId": "2026112200001234567", "merchantAccountId": "1234567890123"})
        assert out == {"vaultingRequestId": "2026112200001234567", "merchantAccountId": "1234567890123"}

    def test_a_fingerprint_is_kept_whole_but_a_card_number_under_its_name_is_not(self):
        fingerprint = "78f5a848f9b3b9625b646b7bb0cc372d6132b30b660008840811b0bffaa6dd92"  # holds 660008840811
        answer = {"card": {"fingerprint": fingerprint}}
        assert redact(answer, keep_fingerprints=True) == {"card": {"fingerprint": fingerprint}}
        assert redact({"fingerprint": VISA_OK}, keep_fingerprints=True) == {"fingerprint": "405469******0768"}
        assert VISA_OK not in redact({"fingerprint": fingerprint + VISA_OK}, keep_fingerprints=True)["fingerprint"]

    def test_a_client_cannot_hide_a_card_number_in_a_fingerprint_or_an_identifier(self):
        hidden = "ab" * 24 + VISA_OK  # 64 hex characters
        out = redact({"fingerprint": hidden, "orderId": VISA_OK, "paymentId": MC_OK})
        assert VISA_OK not in json.dumps(out) and MC_OK not in json.dumps(out)
        assert out["orderId"] == "405469******0768"

    def test_a_card_number_sent_as_a_json_float_is_masked(self):
        out = redact({"card": {"cardNo": float(VISA_OK)}, "n": float(MC_OK)})
        text = json.dumps(out)
        assert VISA_OK not in text and MC_OK not in text, text
        assert out["n"].startswith("516277") and out["n"].endswith("4622.000000"), out

    @pytest.mark.parametrize("value", ["4054 6957 2310 0768", "4054-6957-2310-0768", "9" + VISA_OK + "999",
                                       "order-" + VISA_OK])
    def test_an_identifier_holding_a_spaced_dashed_or_glued_card_number_is_masked(self, value):
        out = redact({"vaultingRequestId": value, "merchantAccountId": value})
        assert "2310" not in json.dumps(out), out

    def test_a_card_number_under_a_non_digit_cardno_keeps_six_and_four(self):
        assert redact({"cardNo": "4054 6957 2310 0768"})["cardNo"] == "4054 6*********0768"

    def test_unparsed_text(self):
        text = '{"cardNo": "4054695723100768", "cvv": "123", "securityCode":"9876", broken'
        out = redact_text(text)
        assert VISA_OK not in out and "123" not in out and "9876" not in out
        assert "405469******0768" in out


class TestRecorded:
    def test_a_vault_call_is_journaled_masked(self, app, ams):
        answer = ams.call(VAULT, vault_body("j-1", card_no=VISA_OK, cvv="321"))
        entries = journal(app)["requests"]
        assert len(entries) == 1
        e = entries[0]
        assert e["clientId"] == "SANDBOX_TEST"
        assert e["method"] == "POST" and e["path"] == VAULT and e["api"] == "vaultPaymentMethod"
        assert e["vaultingRequestId"] == "j-1"
        assert e["httpStatus"] == 200 and e["resultStatus"] == "S" and e["resultCode"] == "SUCCESS"
        assert e["latencyMs"] > 0
        assert e["time"].endswith("+00:00")
        card = e["request"]["paymentMethodDetail"]["card"]
        assert card["cardNo"] == "405469******0768"
        assert "cvv" not in card
        assert e["response"] == answer
        stored = json.dumps(entries)
        assert VISA_OK not in stored and '"321"' not in stored and '"cvv"' not in stored

    def test_the_database_holds_no_full_number_or_cvv(self, app, ams, services):
        ams.call(VAULT, vault_body("j-db", card_no=VISA_OK, cvv="321"))
        rows = services.store.journal_list()
        raw = " ".join(str(r[k]) for r in rows for k in r.keys())
        assert VISA_OK not in raw and '"321"' not in raw and '"cvv"' not in raw

    def test_a_rejected_signature_is_journaled_with_the_body(self, app, ams):
        text = sdk_body(vault_body("j-bad", card_no=MC_OK))
        headers = signed_headers("SANDBOX_TEST", ams.merchant["private_key"], VAULT, text)
        headers["signature"] = "algorithm=RSA256,keyVersion=1,signature=AAAA"
        ams.http.post(VAULT, data=text, headers=headers)
        e = journal(app)["requests"][0]
        assert e["resultCode"] == "INVALID_SIGNATURE" and e["resultStatus"] == "F"
        assert e["clientId"] == "SANDBOX_TEST"
        assert e["api"] == "vaultPaymentMethod"
        assert e["vaultingRequestId"] == "j-bad"
        assert e["request"]["paymentMethodDetail"]["card"]["cardNo"] == "516277******4622"
        assert MC_OK not in json.dumps(e)

    def test_a_body_that_is_not_json_is_kept_redacted(self, app, ams):
        text = f"cardNo={VISA_OK}&cvv=123 not json"
        headers = signed_headers("SANDBOX_TEST", ams.merchant["private_key"], VAULT, text)
        ams.http.post(VAULT, data=text, headers=headers)
        e = journal(app)["requests"][0]
        assert e["resultCode"] == "PARAM_ILLEGAL"
        assert e["request"]["bytes"] == len(text)
        assert VISA_OK not in e["request"]["unparsed"] and "123" not in e["request"]["unparsed"]

    def test_a_card_number_in_the_path_or_the_client_id_header_is_masked(self, app, ams):
        text = sdk_body(vault_body("j-path"))
        path = f"/ams/api/v1/vaults/{VISA_OK}"
        ams.http.post(path, data=text, headers=signed_headers(MC_OK, ams.merchant["private_key"], path, text))
        e = journal(app)["requests"][0]
        assert e["path"] == "/ams/api/v1/vaults/405469******0768", e
        assert e["clientId"] == "516277******4622", e
        assert VISA_OK not in json.dumps(e) and MC_OK not in json.dumps(e)

    def test_unknown_api_is_journaled(self, app, ams):
        ams.call("/v1/payments/pay", {"x": 1})
        e = journal(app)["requests"][0]
        assert e["resultCode"] == "INVALID_API" and e["path"] == "/v1/payments/pay" and e["api"] is None

    def test_cache_card_is_journaled_without_the_security_code(self, app, ams):
        from tests.test_cache_card import CACHE, cache_body
        answer = ams.call(CACHE, cache_body(MC_OK, securityCode="987"))
        assert answer["result"]["resultCode"] == "SUCCESS"
        e = journal(app, api="cacheCard")["requests"][0]
        card = e["request"]["paymentMethodDetail"]["card"]
        assert card["cardNo"] == "516277******4622" and "securityCode" not in card
        assert e["response"]["paymentMethodDetail"]["card"]["mask"] == "516277******4622"
        assert MC_OK not in json.dumps(e) and '"987"' not in json.dumps(e)

    def test_admin_calls_are_not_journaled(self, app, ams):
        app.test_client().get("/_mockpay/health")
        app.test_client().get("/_mockpay/clients")
        assert journal(app)["requests"] == []


class TestFilters:
    @pytest.fixture
    def filled(self, app, ams, services, merchant_keys):
        services.clients.add("OTHER", public_key=merchant_keys["public"])
        ams.call(VAULT, vault_body("f-1"))
        ams.call(INQUIRE, {"vaultingRequestId": "f-1"})
        ams.call(INQUIRE, {"vaultingRequestId": "nope"})
        text = sdk_body(vault_body("f-2"))
        ams.http.post("/v1/vaults/vaultPaymentMethod", data=text,
                      headers=signed_headers("OTHER", merchant_keys["private"], "/v1/vaults/vaultPaymentMethod", text))
        return app

    def test_newest_first(self, filled):
        codes = [e["vaultingRequestId"] for e in journal(filled)["requests"]]
        assert codes == ["f-2", "nope", "f-1", "f-1"]

    def test_by_client(self, filled):
        entries = journal(filled, clientId="OTHER")["requests"]
        assert [e["vaultingRequestId"] for e in entries] == ["f-2"]

    def test_by_vaulting_request_id(self, filled):
        entries = journal(filled, vaultingRequestId="f-1")["requests"]
        assert [e["api"] for e in entries] == ["inquireVaulting", "vaultPaymentMethod"]

    def test_by_result_code(self, filled):
        entries = journal(filled, resultCode="VAULTING_NOT_EXIST")["requests"]
        assert [e["vaultingRequestId"] for e in entries] == ["nope"]

    def test_by_exact_path_and_glob(self, filled):
        assert len(journal(filled, path=INQUIRE)["requests"]) == 2
        assert len(journal(filled, path="/v1/vaults/vaultPaymentMethod")["requests"]) == 1
        assert len(journal(filled, path="*/vaults/vaultPaymentMethod")["requests"]) == 2

    def test_by_api(self, filled):
        assert len(journal(filled, api="vaultPaymentMethod")["requests"]) == 2

    def test_limit_and_paging(self, filled):
        first = journal(filled, limit=3)
        assert len(first["requests"]) == 3
        rest = journal(filled, limit=3, before=first["next"]["before"])
        assert "next" not in rest
        assert [e["id"] for e in first["requests"] + rest["requests"]] == \
               [e["id"] for e in journal(filled)["requests"]]

    @pytest.mark.parametrize("params, field", [({"limit": "x"}, "limit"), ({"limit": "0"}, "limit"),
                                               ({"limit": "5000"}, "limit"), ({"before": "-1"}, "before")])
    def test_bad_filters(self, app, params, field):
        response = app.test_client().get("/_mockpay/requests", query_string=params)
        assert response.status_code == 400
        error = response.get_json()["error"]
        assert error["code"] == "BAD_REQUEST" and field in error["message"]


class TestCap:
    def test_cap_trims_the_oldest(self, make_ams):
        svc, caller = make_ams(journal_cap=5)
        for i in range(12):
            caller.call(INQUIRE, {"vaultingRequestId": f"cap-{i}"})
        assert svc.store.journal_count() == 5
        assert [e["vaultingRequestId"] for e in journal(caller.http.application)["requests"]] == \
            [f"cap-{i}" for i in range(11, 6, -1)]

    def test_trimming_is_batched(self, tmp_path):
        """With a cap of 100 the journal is trimmed every 10th row, not on every insert."""
        from mockpay.clock import Clock
        from mockpay.store import Store
        store = Store(tmp_path / "j.sqlite3")
        j = Journal(store, Clock(store), cap=100)
        assert j.trim_every == 10
        call = {"method": "POST", "path": "/v1/x", "http_status": 200, "latency_ms": 1.0}
        counts = []
        for _ in range(125):
            j.record(call)
            counts.append(store.journal_count())
        assert max(counts) == 109  # grows past the cap until the next multiple of 10
        assert counts[-1] == 105 and counts[119] == 100
        store.close()

    def test_cap_zero_turns_the_journal_off(self, make_ams):
        svc, caller = make_ams(journal_cap=0)
        assert caller.call(VAULT, vault_body("off"))["result"]["resultCode"] == "SUCCESS"
        assert svc.store.journal_count() == 0
        assert journal(caller.http.application)["requests"] == []

    def test_a_journal_failure_does_not_break_the_answer(self, app, ams, services, monkeypatch):
        def broken(row):
            raise RuntimeError("disk full")
        monkeypatch.setattr(services.store, "journal_insert", broken)
        assert ams.call(VAULT, vault_body("still-ok"))["result"]["resultCode"] == "SUCCESS"


def test_a_body_with_a_lone_surrogate_is_refused_and_journaled(app, ams, services):
    """Half a UTF-16 pair (a JSON \\ud800 escape) in a field: PARAM_ILLEGAL naming the field,
    nothing stored, and the call is in the journal with the half written as its escape (it
    was UNKNOWN_EXCEPTION, and the journal could not store it either)."""
    body = vault_body("lone-1")
    body["metadata"] = "note"
    raw = sdk_body(body).replace('"note"', '"note \\udfff"')
    answer = ams.call(VAULT, None, raw=raw)
    assert answer["result"]["resultCode"] == "PARAM_ILLEGAL"
    assert answer["result"]["resultMessage"] == "metadata is not valid Unicode (a lone UTF-16 surrogate)"
    assert answer["vaultingRequestId"] == "lone-1"
    assert services.store.get_vault("SANDBOX_TEST", "lone-1") is None
    entry = journal(app, vaultingRequestId="lone-1")["requests"][0]
    assert entry["resultCode"] == "PARAM_ILLEGAL"
    assert entry["request"]["metadata"] == "note \\udfff"
    assert entry["request"]["paymentMethodDetail"]["card"]["cardNo"] == "405469******0768"


def test_nan_and_infinity_in_a_body_are_journaled_as_text(app, ams):
    """json.loads takes NaN, Infinity and 1e400 (past a double's range); in an ignored field
    they leave the call as it is, but the journal kept them as numbers, and GET
    /_mockpay/requests then answered NaN and Infinity, which no JSON parser but Python's takes."""
    body = vault_body("nan-1")
    body["extra"] = {"a": "A", "b": "B", "c": "C", "cardNo": "D"}
    raw = sdk_body(body).replace('"A"', "NaN").replace('"B"', "1e400").replace('"C"', "-Infinity") \
        .replace('"D"', "NaN")
    assert ams.call(VAULT, None, raw=raw)["result"]["resultCode"] == "SUCCESS"
    response = app.test_client().get("/_mockpay/requests", query_string={"vaultingRequestId": "nan-1"})

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    entry = json.loads(response.data, parse_constant=refuse)["requests"][0]
    assert entry["request"]["extra"] == {"a": "NaN", "b": "Infinity", "c": "-Infinity", "cardNo": "***"}


@pytest.mark.parametrize("depth,code", [(800, "SUCCESS"), (5000, "PARAM_ILLEGAL")])
def test_a_deeply_nested_body_is_journaled_as_a_redacted_preview(app, ams, depth, code):
    """A body nested deeper than the journal's redaction could follow (Python's recursion
    limit): the call was left out of the journal (a RecursionError). It is kept like a body
    that is not JSON: a preview, card numbers masked, the CVV removed."""
    body = vault_body(f"deep-{depth}")
    body["extra"] = "X"
    raw = sdk_body(body).replace('"X"', "[" * depth + "]" * depth)
    assert ams.call(VAULT, None, raw=raw)["result"]["resultCode"] == code
    entries = [e for e in journal(app)["requests"] if f"deep-{depth}" in json.dumps(e)]
    assert len(entries) == 1, "the call is in the journal"
    request = entries[0]["request"]
    assert VISA_OK not in json.dumps(request)
    if "unparsed" in request or depth > 1000:  # past the recursion limit, whatever the stack
        assert request["bytes"] == len(raw.encode())
        assert "405469******0768" in request["unparsed"]
        assert '"123"' not in request["unparsed"] and "cvv" in request["unparsed"]
    else:  # a stack shallow enough to walk 800 levels: redacted as JSON
        assert request["paymentMethodDetail"]["card"]["cardNo"] == "405469******0768"
