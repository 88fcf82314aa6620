"""The admin API for scenarios: the catalogue, and rule sets loaded at run time for one client id."""
from __future__ import annotations

from tests.support import vault_body

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"
VISA_OK = "4054695723100768"

CLIENT_RULES = """\
rules:
  - description: this job's Visa is declined
    match: {cardNo: "4054695723100768"}
    outcome: {resultCode: VERIFICATION_FAIL, reason: INSUFFICIENT}
"""


def test_put_validates_and_names_the_client_and_line(app, merchant):
    http = app.test_client()
    response = http.put("/_mockpay/clients/SANDBOX_TEST/scenarios", data=CLIENT_RULES,
                        content_type="application/yaml")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "INVALID_SCENARIOS"
    assert error["details"] == ["clients/SANDBOX_TEST:4: rule 1: outcome.reason: unknown reason 'INSUFFICIENT'; "
                                "one of " + error["details"][0].split("; one of ")[1]]
    assert error["message"] == error["details"][0]
    assert http.get("/_mockpay/clients/SANDBOX_TEST/scenarios").status_code == 404


def test_a_value_yaml_cannot_build_is_a_400_not_a_500(app, merchant):
    """A date that does not exist, or an integer of more digits than Python converts,
    used to escape the YAML error handling as a bare ValueError."""
    http = app.test_client()
    for value in ("2024-13-45", "1" * 5000):
        response = http.put("/_mockpay/clients/SANDBOX_TEST/scenarios", content_type="application/yaml",
                            data=CLIENT_RULES.replace("INSUFFICIENT", "STOLEN_CARD").replace(
                                "this job's Visa is declined", value))
        assert response.status_code == 400, response.data
        error = response.get_json()["error"]
        assert error["code"] == "INVALID_SCENARIOS"
        assert error["message"].startswith("clients/SANDBOX_TEST:2: invalid YAML: this value cannot be read: ")
    assert http.get("/_mockpay/clients/SANDBOX_TEST/scenarios").status_code == 404


def test_a_client_set_applies_to_that_client_only(app, ams, services, merchant_keys):
    services.clients.add("SANDBOX_JOB_2", public_key=merchant_keys["public"])
    job_2 = type(ams)(app, {**ams.merchant, "client_id": "SANDBOX_JOB_2"})
    http = app.test_client()
    response = http.put("/_mockpay/clients/SANDBOX_TEST/scenarios",
                        data=CLIENT_RULES.replace("INSUFFICIENT", "STOLEN_CARD"), content_type="application/yaml")
    assert response.status_code == 200
    assert response.get_json()["rules"][0]["description"] == "this job's Visa is declined"

    mine = ams.call(VAULT, vault_body("job1-a", VISA_OK))
    theirs = job_2.call(VAULT, vault_body("job2-a", VISA_OK))
    assert mine["result"]["resultCode"] == "VERIFICATION_FAIL"
    assert services.store.get_vault("SANDBOX_TEST", "job1-a")["vaulting_result_code"] == "STOLEN_CARD"
    assert theirs["result"]["resultCode"] == "SUCCESS"

    stored = http.get("/_mockpay/clients/SANDBOX_TEST/scenarios").get_json()
    assert "STOLEN_CARD" in stored["source"] and stored["rules"][0]["outcome"] == "F VERIFICATION_FAIL (STOLEN_CARD)"
    listing = http.get("/_mockpay/scenarios?clientId=SANDBOX_TEST").get_json()
    assert listing["sources"][0] == "clients/SANDBOX_TEST"
    assert listing["rules"][0]["description"] == "this job's Visa is declined"
    assert http.get("/_mockpay/scenarios").get_json()["rules"][0]["description"] != "this job's Visa is declined"

    assert http.delete("/_mockpay/clients/SANDBOX_TEST/scenarios").get_json()["deleted"] is True
    assert ams.call(VAULT, vault_body("job1-b", VISA_OK))["result"]["resultCode"] == "SUCCESS"


def test_put_for_an_unknown_client_or_an_empty_body(app, merchant):
    http = app.test_client()
    assert http.put("/_mockpay/clients/NOBODY/scenarios", data=CLIENT_RULES).status_code == 404
    response = http.put("/_mockpay/clients/SANDBOX_TEST/scenarios", data="  ")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "BAD_REQUEST"


def test_the_catalogue_lists_the_built_in_cards(app):
    listing = app.test_client().get("/_mockpay/scenarios").get_json()
    assert listing["sources"] == ["mockpay/default_scenarios.yaml"]
    by_card = {c: r for r in listing["rules"] for c in r["cards"]}
    assert by_card["4054692760174822"]["outcome"] == "F VERIFICATION_FAIL (DO_NOT_HONOR)"
    assert by_card["4000000207000003"]["spec"]["urls"] == ["normalUrl", "schemeUrl", "applinkUrl"]
    assert listing["default"]["resultCode"] == "SUCCESS"


def test_reset_restarts_sequences(app, ams):
    card = "4000000501000006"  # UNKNOWN_EXCEPTION, then SUCCESS
    assert ams.call(VAULT, vault_body("seq-1", card))["result"]["resultCode"] == "UNKNOWN_EXCEPTION"
    assert ams.call(VAULT, vault_body("seq-2", card))["result"]["resultCode"] == "SUCCESS"
    response = app.test_client().post("/_mockpay/scenarios/reset", json={"clientId": "SANDBOX_TEST"})
    assert response.get_json() == {"reset": 1}
    assert ams.call(VAULT, vault_body("seq-3", card))["result"]["resultCode"] == "UNKNOWN_EXCEPTION"


def test_a_client_set_is_stored_sealed(app, services, merchant):
    """Rules may name full card numbers; the data directory keeps them only AES-GCM sealed."""
    text = CLIENT_RULES.replace("INSUFFICIENT", "LOST_CARD")
    assert app.test_client().put("/_mockpay/clients/SANDBOX_TEST/scenarios", data=text).status_code == 200
    raw = services.store.get_scenario_set("SANDBOX_TEST")["source"]
    assert VISA_OK not in raw and "LOST_CARD" not in raw
    assert app.test_client().get("/_mockpay/clients/SANDBOX_TEST/scenarios").get_json()["source"] == text
    database = b"".join(p.read_bytes() for p in services.config.db_path.parent.glob("mockpay.sqlite3*"))
    assert VISA_OK.encode() not in database
