"""What the schemathesis run (tests/integration/test_fuzz.py) found, pinned down as unit
tests of the views: each of these answered a 500 or broke the document before. (The
other proofs' findings are tested where their code is: tests/test_cache_card.py,
tests/test_notify.py; the clock's in tests/test_units.py.)"""
from __future__ import annotations

import json

import pytest

from mockpay.codes import MESSAGE_MAX
from tests.support import sdk_body, signed_headers, vault_body

VAULT = "/ams/api/v1/vaults/vaultPaymentMethod"


def test_a_result_message_listing_many_problems_fits_in_256_characters(ams):
    body = vault_body("many-1")
    body["paymentMethodDetail"]["card"]["billingAddress"] = {
        name: "bad\x01value" for name in ("state", "city", "address1", "address2", "zipCode")}
    result = ams.call(VAULT, body)["result"]
    assert result["resultCode"] == "PARAM_ILLEGAL"
    assert len(result["resultMessage"]) <= MESSAGE_MAX
    assert result["resultMessage"].startswith("paymentMethodDetail.card.billingAddress.")
    assert "(and 4 more" in result["resultMessage"]


def test_a_message_quoting_a_long_client_id_is_cut_to_256_characters(ams):
    text = sdk_body(vault_body())
    headers = signed_headers("C" * 64, ams.merchant["private_key"], VAULT, text)
    result = json.loads(ams.http.post(VAULT, data=text, headers=headers).data)["result"]
    assert result["resultCode"] == "INVALID_CLIENT"
    long_key = "k" * 400
    raw = '{"%s": 1, "%s": 2}' % (long_key, long_key)
    dup = ams.call(VAULT, None, raw=raw)["result"]
    assert dup["resultCode"] == "PARAM_ILLEGAL" and len(dup["resultMessage"]) == MESSAGE_MAX
    assert dup["resultMessage"].startswith("kkkk") and dup["resultMessage"].endswith("...")


@pytest.mark.parametrize("path", ["/_mockpay/notifications/9223372036854775808",
                                  "/_mockpay/notifications/-1", "/_mockpay/no-such-thing"])
def test_admin_ids_out_of_range_and_unknown_paths_are_json_404(app, path):
    response = app.test_client().get(path)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("query", ["offset=9223372036854775808", "offset=-1", "limit=0", "limit=99999999999999999999"])
def test_notification_paging_out_of_range_is_400(app, query):
    response = app.test_client().get(f"/_mockpay/notifications?{query}")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "BAD_REQUEST"


def test_resend_of_an_id_beyond_64_bits_is_404(app):
    response = app.test_client().post("/_mockpay/notifications/9223372036854775808/resend")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("path,body,field", [
    ("/_mockpay/clients", {"clientId": "OK_ID", "publicKey": ["not", "a", "key"]}, "publicKey"),
    ("/_mockpay/scenarios/reset", {"clientId": []}, "clientId"),
    ("/_mockpay/vaults/v-1/complete", {"outcome": "success", "clientId": {"a": 1}}, "clientId"),
    ("/_mockpay/vaults/v-1/complete", {"outcome": "success", "otp": 123456}, "otp"),
    ("/_mockpay/vaults/v-1/complete", {"outcome": ["success"]}, "outcome"),  # unhashable: was a 500
    ("/_mockpay/vaults/v-1/complete", {"outcome": {"success": 1}}, "outcome"),
])
def test_admin_fields_of_the_wrong_type_are_400_naming_the_field(app, path, body, field):
    response = app.test_client().post(path, json=body)
    assert response.status_code == 400, response.data
    error = response.get_json()["error"]
    assert error["code"] == "BAD_REQUEST" and error["message"].startswith(field)


def test_the_clock_cannot_be_advanced_past_the_year_9000(app, services):
    http = app.test_client()
    before = http.get("/_mockpay/clock").get_json()["epoch"]
    refused = http.post("/_mockpay/clock/advance", json={"seconds": 1e300})
    assert refused.status_code == 400 and "cannot be advanced" in refused.get_json()["error"]["message"]
    after = http.get("/_mockpay/clock").get_json()
    assert after["epoch"] - before < 60, "a refused advance moves nothing"
    assert http.post("/_mockpay/clock/advance", json={"seconds": 86400}).status_code == 200
    with pytest.raises(ValueError):
        services.clock.advance(float("nan"))


def test_an_integer_too_large_for_a_float_is_a_400_not_a_500(app, services):
    """JSON allows an integer of any length; float() of one past 1.8e308 raises OverflowError."""
    http = app.test_client()
    before = services.clock.now()
    huge = "1" + "0" * 400
    refused = http.post("/_mockpay/clock/advance", data='{"seconds": %s}' % huge, content_type="application/json")
    assert refused.status_code == 400, refused.data
    assert refused.get_json()["error"] == {"code": "BAD_REQUEST",
                                           "message": "seconds must be a number >= 0 (the clock only moves forward)"}
    page = http.post("/_mockpay/ui/clock/advance", data={"seconds": huge})
    assert page.status_code == 400 and "seconds must be a number &gt;= 0" in page.get_data(as_text=True)
    assert services.clock.now() - before < 60
    with pytest.raises(ValueError, match="seconds must be a number"):
        services.clock.advance(10 ** 400)


@pytest.mark.parametrize("path", ["/_mockpay/clock/advance", "/_mockpay/reset", "/_mockpay/clients",
                                  "/_mockpay/vaults/v-1/complete", "/_mockpay/scenarios/reset"])
def test_an_admin_body_nested_past_the_recursion_limit_is_a_400_not_a_500(app, path):
    response = app.test_client().post(path, data="[" * 100_000 + "]" * 100_000, content_type="application/json")
    assert response.status_code == 400, response.data
    assert response.get_json()["error"] == {"code": "BAD_REQUEST",
                                            "message": "the body nests arrays or objects too deeply"}


def test_a_broken_scenario_reset_body_resets_nothing(app, ams):
    """It used to be read leniently: a body that was not JSON restarted every client's sequences."""
    card = "4000000501000006"  # UNKNOWN_EXCEPTION, then SUCCESS
    assert ams.call("/ams/api/v1/vaults/vaultPaymentMethod", vault_body("seq-1", card))["result"][
        "resultCode"] == "UNKNOWN_EXCEPTION"
    http = app.test_client()
    for body, content_type in [('{"clientId": "SANDBOX_TEST"', "application/json"),
                               ("clientId=SANDBOX_TEST", "application/x-www-form-urlencoded")]:
        response = http.post("/_mockpay/scenarios/reset", data=body, content_type=content_type)
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "BAD_REQUEST"
    assert ams.call("/ams/api/v1/vaults/vaultPaymentMethod", vault_body("seq-2", card))["result"][
        "resultCode"] == "SUCCESS", "the sequence went on: nothing was reset"
    assert http.post("/_mockpay/scenarios/reset").get_json() == {"reset": 1}  # no body at all: everything


def test_cli_refuses_to_advance_the_clock_past_the_year_9000(tmp_path):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "mockpay.cli", "--data-dir", str(tmp_path / "d"), "clock",
                          "advance", "1e300"], capture_output=True, text=True)
    assert out.returncode == 1 and "cannot be advanced" in out.stderr and "Traceback" not in out.stderr


def test_the_document_describes_admin_bodies_and_error_details(app):
    """Undocumented, these bodies were never generated by the fuzzer; and a scenario file's
    problems come back as error.details, which the document did not allow."""
    document = app.test_client().get("/_mockpay/openapi.json").get_json()
    paths, schemas = document["paths"], document["components"]["schemas"]
    for path, method in [("/_mockpay/clock/advance", "post"), ("/_mockpay/scenarios/reset", "post"),
                         ("/_mockpay/clients/{client_id}/scenarios", "put"),
                         ("/_mockpay/vaults/{vaulting_request_id}/complete", "post")]:
        assert "requestBody" in paths[path][method], path
    assert {p["name"] for p in paths["/_mockpay/notifications"]["get"]["parameters"]} >= {"status", "limit"}
    assert "202" in paths["/_mockpay/notifications/{notification_id}/resend"]["post"]["responses"]
    assert "details" in schemas["AdminErrorDetail"]["properties"]



# -- operator-side bug hunt (hunt-admin) ---------------------------------------------------

LAUGHS = "".join(f"{name}: &{name} [{', '.join(['*' + prev] * 10 if prev else ['lol'] * 10)}]\n"
                 for prev, name in zip([None, "a", "b", "c", "d", "e"], "abcdef"))  # 10**6 values


@pytest.mark.parametrize("text, line, message", [
    ("rules: " + "[" * 3000 + "]" * 3000, 1, "lists and mappings nest more than 64 levels deep"),
    ("rules:\n- match: " + "{a: " * 70 + "x" + "}" * 70, 2, "lists and mappings nest more than 64 levels deep"),
    ("rules: &r [*r]\n", 1, "the alias *r is inside the value &r names (a loop)"),
    ("default: &d {resultCode: SUCCESS, x: *d}\n", 1, "the alias *d is inside the value &d names (a loop)"),
    (LAUGHS, 5, "the aliases stand for more than 100000 values in all"),
])
def test_a_scenario_set_nested_too_deep_looping_or_exploding_is_a_400_not_a_500(app, merchant, text, line,
                                                                                message):
    """Deep nesting overflowed the composer's stack (RecursionError: 500; at 100000 levels the
    worker died of a segmentation fault), an alias inside its own anchor looped, and nested
    aliases ("billion laughs") made every pass walk 10**6 values and more."""
    response = app.test_client().put("/_mockpay/clients/SANDBOX_TEST/scenarios", data=text,
                                     content_type="application/yaml")
    assert response.status_code == 400, response.data
    error = response.get_json()["error"]
    assert error["code"] == "INVALID_SCENARIOS"
    assert error["details"] == [f"clients/SANDBOX_TEST:{line}: {message}"]


def test_scenario_anchors_and_aliases_still_work(app, merchant):
    text = ("rules:\n- match: {cardNo: \"4000000101000000\"}\n"
            "  outcome: &declined {resultCode: VERIFICATION_FAIL, reason: DO_NOT_HONOR}\n"
            "- match: {cardNo: \"4000000102000009\"}\n  outcome: *declined\n")
    response = app.test_client().put("/_mockpay/clients/SANDBOX_TEST/scenarios", data=text,
                                     content_type="application/yaml")
    assert response.status_code == 200, response.data
    assert [r["outcome"] for r in response.get_json()["rules"]] == ["F VERIFICATION_FAIL (DO_NOT_HONOR)"] * 2


def test_validating_a_scenario_file_of_100000_levels_does_not_crash_the_process(tmp_path):
    import subprocess
    import sys
    deep = tmp_path / "deep.yaml"
    deep.write_text("rules: " + "[" * 100_000 + "]" * 100_000)
    out = subprocess.run([sys.executable, "-m", "mockpay.cli", "scenarios", "validate", str(deep)],
                         capture_output=True, text=True)
    assert out.returncode == 1, (out.returncode, out.stderr[-300:])  # was -11: SIGSEGV
    assert out.stderr == f"{deep}:1: lists and mappings nest more than 64 levels deep\n"


@pytest.mark.parametrize("origin", ["http://[", "http://[::1", "https://[zz]:443"])
@pytest.mark.parametrize("path", ["/_mockpay/reset", "/_mockpay/ui/clock/advance"])
def test_an_origin_that_is_no_url_is_refused_as_another_site_not_a_500(app, services, origin, path):
    """urlsplit() raises ValueError for an unclosed IPv6 address: every admin POST answered 500."""
    before = services.clock.now()
    response = app.test_client().post(path, data={"seconds": "3600"}, headers={"Origin": origin})
    assert response.status_code == 403, response.data
    assert b"a page on another site may not change mockpay" in response.data  # JSON, or the dashboard's page
    assert services.clock.now() - before < 3600


def test_a_notification_url_urlsplit_cannot_read_fails_its_attempt_instead_of_sticking_in_sending(app, ams,
                                                                                                  services):
    """The notification was signed (over the URL's path) outside the try that records an attempt's
    outcome: "http://[" raised ValueError out of deliver(), the attempt stayed "sending" and was
    claimed again after every lease, and the dispatcher pass stopped there."""
    body = vault_body("bad-url-1", "4000000101000000")
    body["vaultingNotificationUrl"] = "http://[::1"
    assert ams.call(VAULT, body)["result"]["resultCode"] == "SUCCESS"
    assert services.dispatcher.run_once() == 1
    (notification,) = app.test_client().get("/_mockpay/notifications").get_json()["notifications"]
    first, second = notification["attempts"]
    assert first["state"] == "failed" and first["error"] == "ValueError: Invalid IPv6 URL"
    assert second["state"] == "scheduled" and notification["status"] == "pending"


@pytest.mark.parametrize("path, body, where", [
    ("/_mockpay/reset", '{"clientId": "\\ud800"}', "clientId"),
    ("/_mockpay/scenarios/reset", '{"clientId": "SANDBOX\\udfff"}', "clientId"),
    ("/_mockpay/vaults/v-1/complete", '{"outcome": "success", "otp": "\\ud83d"}', "otp"),
    ("/_mockpay/clients", '{"clientId": "OK", "x": [{"y": "\\udc00"}]}', "x[0].y"),
    ("/_mockpay/clock/advance", '{"seconds": 3600, "\\ud800": 1}', "a key of the body"),
    ("/_mockpay/reset", '{"4111111111111111": {"\\ud800": 1}}', "a key of 411111******1111"),
])
def test_a_lone_surrogate_in_an_admin_body_is_a_400_naming_where_it_is(app, services, path, body, where):
    """JSON's \\ud800 escape makes a string UTF-8 cannot encode: SQLite raised UnicodeEncodeError
    on binding it (500) when the reset bodies' clientId carried one."""
    before = services.clock.now()
    response = app.test_client().post(path, data=body, content_type="application/json")
    assert response.status_code == 400, response.data
    assert response.get_json()["error"] == {
        "code": "BAD_REQUEST",
        "message": f"{where} is not valid Unicode: it holds a lone surrogate (a \\ud800-\\udfff escape without its pair)"}
    assert services.clock.now() - before < 60  # the mock clock runs with the wall clock: a margin


def test_a_paired_surrogate_escape_is_valid_unicode(app):
    response = app.test_client().post("/_mockpay/reset", data='{"clientId": "\\ud83d\\ude00"}',
                                      content_type="application/json")
    assert response.status_code == 404 and response.get_json()["error"]["message"] == "no client '\U0001F600'"



@pytest.mark.parametrize("method, path", [("POST", "/_mockpay/clients"), ("POST", "/_mockpay/reset"),
                                          ("PUT", "/_mockpay/clients/SANDBOX_TEST/scenarios")])
def test_an_admin_body_over_the_size_limit_is_a_json_413(make_ams, method, path):
    """RequestEntityTooLarge has a handler of its own (for the AMS envelope), more specific than
    the HTTPException one that makes admin errors JSON: the admin API answered werkzeug's HTML page."""
    _, caller = make_ams(max_body_bytes=2000)
    response = caller.http.open(path, method=method, data='{"clientId": "%s"}' % ("x" * 3000),
                                content_type="application/json")
    assert response.status_code == 413 and response.mimetype == "application/json", response.data[:200]
    assert response.get_json()["error"] == {"code": "REQUEST_ENTITY_TOO_LARGE",
                                            "message": "the request body exceeds 2000 bytes"}


def _cli(*args, env=None):
    from click.testing import CliRunner

    from mockpay.cli import main
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def _broken_data_dirs(tmp_path, keys_template):
    import shutil
    not_a_db = tmp_path / "not-a-db"
    not_a_db.mkdir(parents=True)
    (not_a_db / "mockpay.sqlite3").write_text("garbage")
    bad_key = tmp_path / "bad-key"
    shutil.copytree(keys_template, bad_key / "keys")
    (bad_key / "keys" / "alipay_private_key.pem").write_text("junk")
    short_secret = tmp_path / "short-secret"
    shutil.copytree(keys_template, short_secret / "keys")
    (short_secret / "keys" / "data.key").write_bytes(b"short")
    keys_is_a_file = tmp_path / "keys-file"
    keys_is_a_file.mkdir()
    (keys_is_a_file / "keys").write_text("")
    return [
        (not_a_db, "file is not a database"),
        (bad_key, f"{bad_key / 'keys' / 'alipay_private_key.pem'} is not an unencrypted PEM private key"),
        (short_secret, f"{short_secret / 'keys' / 'data.key'} is not a data key (64 bytes)"),
        (keys_is_a_file, "File exists"),
        ("/dev/null", "File exists"),
    ]


@pytest.mark.parametrize("command", [("clients", "list"), ("clock", "show"), ("vaults", "list"), ("requests",)])
def test_cli_commands_on_an_unusable_data_directory_print_one_line_not_a_traceback(tmp_path, keys_template,
                                                                                   command):
    for data_dir, reason in _broken_data_dirs(tmp_path / "-".join(command), keys_template):
        result = _cli("--data-dir", data_dir, *command)
        assert result.exit_code == 1, (data_dir, result.output)
        assert result.output.startswith(f"Error: cannot use the data directory {data_dir}: "), result.output
        assert reason in result.output and result.output.count("\n") == 1


def test_cli_commands_name_a_bad_scenario_file_from_the_environment(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [")
    result = _cli("--data-dir", tmp_path / "d", "clients", "list", env={"MOCKPAY_SCENARIOS": str(broken)})
    assert result.exit_code == 1
    assert result.output == f"Error: {broken}:2: invalid YAML: while parsing a flow node: did not find expected " \
                            "node content\n"


@pytest.mark.parametrize("variable, value, message", [
    ("MOCKPAY_TIME_SCALE", "fast", "MOCKPAY_TIME_SCALE must be a number, not 'fast'"),
    ("MOCKPAY_JOURNAL_CAP", "1.5", "MOCKPAY_JOURNAL_CAP must be an integer, not '1.5'"),
    ("MOCKPAY_NOTIFY_SCHEDULE", "0,soon", "MOCKPAY_NOTIFY_SCHEDULE must be comma-separated integers, not '0,soon'"),
    ("MOCKPAY_NOTIFY_TIMEOUT", "1e400", "notify timeout (MOCKPAY_NOTIFY_TIMEOUT) must be a finite number, not inf"),
    ("MOCKPAY_DISPATCH_INTERVAL", "nan",
     "dispatch interval (MOCKPAY_DISPATCH_INTERVAL) must be a finite number, not nan"),
])
def test_a_malformed_setting_in_the_environment_is_named(tmp_path, variable, value, message):
    """The message was Python's own: "could not convert string to float: 'fast'", naming no setting."""
    result = _cli("--data-dir", tmp_path / "d", "clock", "show", env={variable: value})
    assert result.exit_code == 1 and result.output == f"Error: {message}\n"


@pytest.mark.parametrize("args, name", [
    (("clients", "show", "SHOP\udcff"), "CLIENT_ID"),
    (("clients", "add", "\udcff", "--generate"), "CLIENT_ID"),
    (("vaults", "show", "v\udce9"), "VAULTING_REQUEST_ID"),
    (("vaults", "list", "--client-id", "\udcff"), "--client-id"),
    (("reset", "--yes", "--client-id", "\udcff"), "--client-id"),
    (("requests", "--path", "/v1/\udcff*"), "--path"),
    (("notifications", "list", "--vaulting-request-id", "\udcff"), "--vaulting-request-id"),
    (("scenarios", "list", "--client", "\udcff"), "--client"),
])
def test_a_cli_argument_that_is_not_utf8_is_a_usage_error_not_a_traceback(tmp_path, args, name):
    """Bytes that are not UTF-8 reach Python as lone surrogates (os.fsdecode); SQLite raised
    UnicodeEncodeError binding them."""
    result = _cli("--data-dir", tmp_path / "d", *args)
    assert result.exit_code == 2, result.output
    assert result.output.endswith(f"Error: Invalid value for '{name}': is not valid UTF-8 text\n")


def test_a_scenario_path_that_is_not_utf8_is_still_a_path(tmp_path):
    result = _cli("scenarios", "validate", str(tmp_path / "\udcff.yaml"))
    assert result.exit_code == 1 and "no such file or folder" in result.output


def test_cli_clients_add_with_a_binary_public_key_file_says_it_is_no_key(tmp_path):
    """click.File("r") decoded it as UTF-8: a DER file (or any binary) died with UnicodeDecodeError."""
    from cryptography.hazmat.primitives import serialization

    from mockpay import signing
    der = tmp_path / "key.der"
    der.write_bytes(signing.generate_private_key().public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    result = _cli("--data-dir", tmp_path / "d", "clients", "add", "SHOP_DER", "--public-key", der)
    assert result.exit_code == 1 and result.output == "Error: publicKey: key is not base64\n"


@pytest.mark.parametrize("notification_id", [str(2 ** 63), "-" + str(2 ** 63 + 1), "9" * 30])
def test_cli_resend_of_a_notification_id_beyond_64_bits_is_not_found(tmp_path, services, notification_id):
    """The admin route bounds the id in its URL converter; the CLI passed it on to SQLite: OverflowError."""
    result = _cli("--data-dir", tmp_path / "d", "notifications", "resend", "--", notification_id)
    assert result.exit_code == 1 and result.output == f"Error: no notification {notification_id}\n"
    from mockpay.notify import NotFound
    with pytest.raises(NotFound):
        services.notifier.get(int(notification_id))
