"""Scenario files: validation with file/line/rule messages, matching, sequences, per-client sets."""
from __future__ import annotations

import textwrap

import pytest

from mockpay import scenarios as sc
from mockpay.cards import luhn_ok
from mockpay.codes import FAILURE_REASONS
from mockpay.store import Store

VISA_OK = "4054695723100768"


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def request(card_no: str = VISA_OK, request_id: str = "r-1", terminal: str = "WEB", **card) -> dict:
    """A vaultPaymentMethod body as the request schema loads it."""
    return {"vaultingRequestId": request_id, "vaultingNotificationUrl": "https://m.example/n",
            "redirectUrl": "https://m.example/r",
            "paymentMethodDetail": {"paymentMethodType": "CARD",
                                    "card": {"cardNo": card_no, "expiryYear": "30", "expiryMonth": "08", **card}},
            "env": {"terminalType": terminal}}


def engine_for(tmp_path, text: str, store=None, builtin: bool = False) -> sc.ScenarioEngine:
    path = tmp_path / "rules.yaml"
    path.write_text(doc(text))
    return sc.ScenarioEngine(store, paths=[path], include_builtin=builtin)


def issues_of(text: str, source: str = "ci/rules.yaml") -> list[sc.Issue]:
    with pytest.raises(sc.ScenarioError) as info:
        sc.parse(doc(text), source)
    return info.value.issues


# -- the built-in catalogue --------------------------------------------------------------

class TestBuiltinCatalogue:
    rules = sc.builtin().rules

    def test_every_rule_has_a_one_line_description_and_a_unique_name(self):
        for rule in self.rules:
            assert rule.description and "\n" not in rule.description, rule.label
        names = [r.name for r in self.rules]
        assert all(names) and len(set(names)) == len(names)

    def test_every_card_is_luhn_valid_and_listed_once(self):
        cards = [c for r in self.rules for c in r.card_numbers()]
        assert cards and all(luhn_ok(c) for c in cards)
        assert len(set(cards)) == len(cards)

    def test_antoms_published_sandbox_cards_with_their_meaning(self):
        by_card = {c: r for r in self.rules for c in r.card_numbers()}
        for card in ("4054695723100768", "5162774114974622", "9490220011669217", "4294097400915107",
                     "4006055482525268", "4600729331819383", "4310377720003234", "4035501000000008"):
            assert by_card[card].outcomes[0].result_code == "SUCCESS", card
        for card in ("4054692760174822", "5162770472561357"):
            assert by_card[card].outcomes[0].result_status == "F", card
        fields = {c.written: (c.value, r.outcomes[0]) for r in self.rules for c in r.conditions if c.written}
        assert fields["expiryMonth"][0] == "13" and fields["expiryMonth"][1].result_code == "PARAM_ILLEGAL"
        assert fields["cvv"][0] == "99" and fields["cvv"][1].result_code == "PARAM_ILLEGAL"
        assert fields["is3DSAuthentication"][0] == "true"
        assert fields["is3DSAuthentication"][1].result_code == "VERIFICATION_IN_PROCESS"

    def test_a_card_for_every_result_code_of_vault_payment_method(self):
        single_card = [r for r in self.rules if r.card_numbers() and not r.sequence and r.api == "vaultPaymentMethod"]
        codes = {r.outcomes[0].result_code for r in single_card if not r.outcomes[0].fault}
        assert codes >= {"SUCCESS", "PARAM_ILLEGAL", "PROCESS_FAIL", "VERIFICATION_FAIL", "UNKNOWN_EXCEPTION",
                         "VERIFICATION_IN_PROCESS", "REQUEST_TRAFFIC_EXCEED_LIMIT", "RISK_REJECT"}

    def test_every_url_combination_including_none(self):
        combos = {frozenset(r.outcomes[0].urls) for r in self.rules if r.card_numbers()
                  and r.outcomes[0].result_code == "VERIFICATION_IN_PROCESS"}
        expected = {frozenset(c) for c in ([], ["normalUrl"], ["schemeUrl"], ["applinkUrl"],
                                          ["normalUrl", "schemeUrl"], ["normalUrl", "applinkUrl"],
                                          ["schemeUrl", "applinkUrl"], ["normalUrl", "schemeUrl", "applinkUrl"])}
        assert combos >= expected

    def test_every_failure_reason_of_inquire_vaulting(self):
        reasons = {r.outcomes[0].reason for r in self.rules if r.card_numbers() and r.outcomes[0].reason}
        assert reasons >= set(FAILURE_REASONS)

    def test_inquire_vaulting_codes(self):
        codes = {r.outcomes[0].result_code for r in self.rules if r.api == "inquireVaulting"}
        assert codes >= {"UNKNOWN_EXCEPTION", "VAULTING_NOT_EXIST"}

    def test_a_card_for_every_result_code_of_cache_card(self):
        rules = [r for r in self.rules if r.api == "cacheCard"]
        assert all(len(r.card_numbers()) == 1 and len(r.conditions) == 1 for r in rules)
        codes = [r.outcomes[0].result_code for r in rules]
        assert sorted(codes) == sorted({"SUCCESS", "PROCESS_FAIL", "PARAM_ILLEGAL", "UNKNOWN_EXCEPTION",
                                        "REPEAT_REQ_INCONSISTENT", "USER_NOT_EXIST", "USER_STATUS_ABNORMAL",
                                        "INVALID_PAYMENTMETHOD_TOKEN", "REQUEST_TRAFFIC_EXCEED_LIMIT"})
        engine = sc.ScenarioEngine()
        for rule in rules:
            [card] = rule.card_numbers()
            body = {"paymentMethodDetail": {"paymentMethodDetailType": "CARD",
                                            "card": {"cardNo": card, "expiryYear": "2030", "expiryMonth": "07"}}}
            assert engine.choose("c", "cacheCard", body, card).result_code == rule.outcomes[0].result_code
            # the same card on vaultPaymentMethod is not one of these rules
            assert engine.choose("c", "vaultPaymentMethod", request(card), card).rule == "default: success"

    def test_a_request_id_prefix_for_every_result_code_of_create_vaulting_session(self):
        rules = [r for r in self.rules if r.api == "createVaultingSession"]
        codes = [r.outcomes[0].result_code for r in rules]
        assert sorted(codes) == sorted({"SUCCESS", "PARAM_ILLEGAL", "PROCESS_FAIL", "UNKNOWN_EXCEPTION"})
        engine = sc.ScenarioEngine()
        for rule in rules:
            [condition] = rule.conditions
            body = {"paymentMethodType": "CARD", "vaultingRequestId": condition.value[0] + "42"}
            assert engine.choose("c", "createVaultingSession", body).result_code == rule.outcomes[0].result_code
        assert engine.choose("c", "createVaultingSession", {"paymentMethodType": "CARD",
                                                            "vaultingRequestId": "mockpay-session-x"}).rule \
            == "default: success"

    def test_the_3ds_exemption_card_wins_over_the_3ds_flag(self):
        engine = sc.ScenarioEngine()
        req = request("4035501000000008", is3DSAuthentication="true")
        assert engine.choose("c", "vaultPaymentMethod", req, "4035501000000008").result_code == "SUCCESS"
        other = request("4111111111111111", is3DSAuthentication="true")
        assert engine.choose("c", "vaultPaymentMethod", other, "4111111111111111").result_code \
            == "VERIFICATION_IN_PROCESS"

    def test_an_unknown_card_succeeds(self):
        outcome = sc.ScenarioEngine().choose("c", "vaultPaymentMethod", request("4111111111111111"),
                                             "4111111111111111")
        assert outcome.result_code == "SUCCESS" and outcome.rule == "default: success"


# -- rules for every API are checked against that API's request schema --------------------------

def test_every_api_with_result_codes_has_a_request_schema_for_its_rules():
    from mockpay.codes import API_CODES
    assert all(sc._request_schema(api) is not None for api in API_CODES)


class TestCacheCardAndSessionRules:
    def test_cache_card_rules_use_cache_card_field_names(self):
        (issue,) = issues_of("""
            rules:
              - api: cacheCard
                match: {cvv: "123"}
                outcome: {resultCode: USER_NOT_EXIST}
            """)
        assert (issue.line, issue.rule) == (3, "rule 1")
        assert "cvv is not a request field of cacheCard" in issue.message
        sc.parse(doc("""
            rules:
              - api: cacheCard
                match: {securityCode: "999", instUserName.lastName: Doe, expiryYear: "2030", bin: "4000"}
                outcome: {resultCode: USER_STATUS_ABNORMAL}
            """), "ok.yaml")

    def test_cache_card_matching_on_its_fields(self, tmp_path):
        engine = engine_for(tmp_path, """
            rules:
              - api: cacheCard
                match: {lastName: Doe, bin: "4111"}
                outcome: {resultCode: USER_NOT_EXIST}
            """)
        card = {"cardNo": "4111111111111111", "expiryYear": "2030", "expiryMonth": "07",
                "instUserName": {"firstName": "Jane", "lastName": "Doe"}}
        body = {"paymentMethodDetail": {"paymentMethodDetailType": "CARD", "card": card}}
        assert engine.choose("c", "cacheCard", body, card["cardNo"]).result_code == "USER_NOT_EXIST"
        card["instUserName"]["lastName"] = "Roe"
        assert engine.choose("c", "cacheCard", body, card["cardNo"]).result_code == "SUCCESS"

    def test_session_rules_know_the_session_fields_and_that_no_card_is_sent(self):
        issues = issues_of("""
            rules:
              - api: createVaultingSession
                match: {bin: "4"}
                outcome: {resultCode: PROCESS_FAIL}
              - api: createVaultingSession
                match: {terminalType: WEB}
                outcome: {resultCode: PROCESS_FAIL}
              - api: createVaultingSession
                outcome: {resultCode: VERIFICATION_FAIL}
            """)
        assert [(i.line, i.rule) for i in issues] == [(3, "rule 1"), (6, "rule 2"), (9, "rule 3")]
        assert "createVaultingSession requests carry no card number" in issues[0].message
        assert "terminalType is not a request field of createVaultingSession" in issues[1].message
        assert "VERIFICATION_FAIL is not a result code of createVaultingSession" in issues[2].message

    def test_session_matching_on_its_fields(self, tmp_path):
        engine = engine_for(tmp_path, """
            rules:
              - api: createVaultingSession
                match: {is3DSAuthentication: true, merchantRegion: BR}
                outcome: {resultCode: PROCESS_FAIL}
            """)
        body = {"paymentMethodType": "CARD", "vaultingRequestId": "s-1", "is3DSAuthentication": "true",
                "merchantRegion": "BR"}
        assert engine.choose("c", "createVaultingSession", body).result_code == "PROCESS_FAIL"
        assert engine.choose("c", "createVaultingSession", dict(body, merchantRegion="US")).result_code == "SUCCESS"


# -- invalid files: each message names the file, the line and the rule -------------------------

class TestInvalidFiles:
    def test_bad_yaml(self):
        (issue,) = issues_of("""
            rules:
              - match: {cardNo: "4054695723100768"
                outcome: {resultCode: SUCCESS}
            """)
        assert issue.source == "ci/rules.yaml" and issue.line in (2, 3)
        assert str(issue).startswith(f"ci/rules.yaml:{issue.line}: invalid YAML")

    @pytest.mark.parametrize("value, reason", [
        ("!!python/name:os.system x", "could not determine a constructor for the tag"),
        ("2024-13-45", "this value cannot be read: month must be in 1..12"),
        ("1" * 5000, "this value cannot be read: Exceeds the limit (4300 digits) for integer string conversion"),
        ("!!int abc", "this value cannot be read: invalid literal for int()"),
        ("!!float x", "this value cannot be read: could not convert string to float"),
        ("!!timestamp x", "this value cannot be read: "),
        ("!!binary 'not base64!'", "failed to decode base64 data"),
    ])
    def test_a_value_yaml_cannot_build_is_an_issue_on_its_line(self, value, reason):
        (issue,) = issues_of(f"""
            rules:
              - match: {{cardNo: "4054695723100768"}}
                outcome: {{resultCode: SUCCESS, resultMessage: {value}}}
            """)
        assert (issue.source, issue.line) == ("ci/rules.yaml", 3)
        assert reason in issue.message and issue.message.startswith("invalid YAML: ")
        assert "set_int_max_str_digits" not in issue.message  # Python's advice is not the user's to take

    def test_a_flood_of_problems_is_cut_to_the_first_fifty(self):
        rules = "".join(f"  - match: {{cardNo: '4054695723100768'}}\n    outcome: {{resultCode: NOPE{i}}}\n"
                        for i in range(120))
        issues = issues_of("rules:\n" + rules)
        assert len(issues) == 50
        assert [i.rule for i in issues[:49]] == [f"rule {n}" for n in range(1, 50)]
        assert str(issues[-1]) == "ci/rules.yaml: ... and 71 more problems"

    def test_unknown_outcome_code(self):
        (issue,) = issues_of("""
            rules:
              - name: ok
                match: {cardNo: "4054695723100768"}
                outcome: {resultCode: SUCCESS}
              - name: typo
                match: {cardNo: "5162774114974622"}
                outcome: {resultCode: SUCCES}
            """)
        assert str(issue) == ('ci/rules.yaml:7: rule 2 "typo": outcome.resultCode: '
                              "unknown result code 'SUCCES' (did you mean SUCCESS?)")

    def test_code_with_the_wrong_status(self):
        (issue,) = issues_of("""
            rules:
              - match: {bin: "405469"}
                outcome:
                  resultCode: VERIFICATION_IN_PROCESS
                  resultStatus: S
            """)
        assert str(issue) == ("ci/rules.yaml:5: rule 1: outcome.resultStatus: "
                              "VERIFICATION_IN_PROCESS has resultStatus U, not S")

    def test_urls_on_a_non_u_outcome(self):
        (issue,) = issues_of("""
            rules:
              - name: visa
                match: {cardNo: "4054695723100768"}
                outcome: {resultCode: VERIFICATION_FAIL, urls: [normalUrl]}
            """)
        assert issue.line == 4 and issue.rule == 'rule 1 "visa"'
        assert "outcome.urls: urls is only for VERIFICATION_IN_PROCESS" in issue.message

    def test_urls_in_a_sequence_step_point_at_that_step(self):
        (issue,) = issues_of("""
            rules:
              - match: {cardNo: "4054695723100768"}
                sequence:
                  - resultCode: UNKNOWN_EXCEPTION
                  - resultCode: SUCCESS
                    urls: [schemeUrl]
            """)
        assert issue.line == 6 and issue.message.startswith("sequence[1].urls:")

    def test_code_on_the_wrong_api(self):
        (issue,) = issues_of("""
            rules:
              - match: {cardNo: "4054695723100768"}
                outcome: {resultCode: VAULTING_NOT_EXIST}
            """)
        assert issue.line == 3
        assert "VAULTING_NOT_EXIST is not a result code of vaultPaymentMethod; it is a code of inquireVaulting" \
            in issue.message

    @pytest.mark.parametrize("body, line, fragment", [
        ("rules:\n  - match: {cardNo: \"4054695723100768\"}\n    outcom: {resultCode: SUCCESS}\n", 3,
         "outcom: unknown key"),
        ("rules:\n  - match: {cardNo: \"4054695723100769\"}\n    outcome: {}\n", 2, "fails the Luhn check"),
        ("rules:\n  - match: {cardNo: {equals: \"4054695723100769\"}}\n    outcome: {}\n", 2, "fails the Luhn check"),
        ("rules:\n  - match: {cardNo: {in: [\"4054695723100768\", \"4054695723100769\"]}}\n    outcome: {}\n", 2,
         "4054695723100769 fails the Luhn check"),
        ("rules:\n  - match: {terminalTyp: APP}\n    outcome: {}\n", 2,
         "terminalTyp is not a request field of vaultPaymentMethod (did you mean terminalType?)"),
        ("rules:\n  - match: {userAgent: x}\n    outcome: {}\n", 2, "userAgent is ambiguous"),
        ("rules:\n  - match: {env: {terminalType: TV}}\n    outcome: {}\n", 2, "must be one of WEB, WAP, APP"),
        ("rules:\n  - match: {bin: \"4054\"}\n", 2, "give exactly one of outcome or sequence"),
        ("rules:\n  - match: {bin: \"4054\"}\n    outcome: {resultCode: VERIFICATION_FAIL, reason: NOPE}\n", 3,
         "unknown reason 'NOPE'"),
        ("rules:\n  - match: {bin: \"4054\"}\n    outcome: {resultCode: SUCCESS, reason: DO_NOT_HONOR}\n", 3,
         "reason (the vaultingResultCode of a failed vault) is only for"),
        ("rules:\n  - match: {bin: \"4054\"}\n    outcome: {fault: http_418}\n", 3, "must be one of http_500"),
        ("rules:\n  - match: {bin: \"4054\"}\n    outcome: {processed: false}\n", 3,
         "processed only goes with a fault"),
        ("rules:\n  - match: {bin: \"4054\"}\n    outcome: {expiry: never}\n", 3, "must be future or any"),
        ("rules:\n  - match: {bin: \"4054\"}\n    outcome: {resultCode: RISK_REJECT, expiry: any}\n", 3,
         "expiry is only for SUCCESS on vaultPaymentMethod, not RISK_REJECT"),
        ("rules:\n  - name: a\n    outcome: {}\n  - name: a\n    outcome: {}\n", 4, "name 'a' is already used by rule 1"),
        ("rules:\n  - api: inquireVaulting\n    match: {bin: \"4054\"}\n    outcome: {}\n", 3,
         "inquireVaulting requests carry no card number"),
        ("rules:\n  - outcome: {resultCode: SUCCESS}\n    outcome: {resultCode: RISK_REJECT}\n", 3,
         "outcome appears twice"),
        ("default: {resultCode: VERIFICATION_FAIL, urls: [normalUrl]}\n", 1, "default.urls: urls is only for"),
        ("rules: {}\n", 1, "rules: must be a list"),
        ("- just\n- a list\n", 1, "expected a mapping with rules:"),
        ("", 1, "the file is empty"),
    ])
    def test_other_mistakes(self, body, line, fragment):
        issues = issues_of(body)
        assert any(i.line == line and fragment in str(i) for i in issues), [str(i) for i in issues]
        assert all(str(i).startswith("ci/rules.yaml:") for i in issues)

    @pytest.mark.parametrize("match, fragment", [
        ("{expiryMonth: 8}", "match.expiryMonth: '8' could never match: the API refuses it, as it must be "
                             '01 to 12 (quote it: "08")'),
        ('{expiryMonth: [8, "09"]}', "'8' could never match"),
        ('{expiryMonth: "\u00b2"}', "could never match: the API refuses it, as it must contain ASCII"),
        ("{expiryMonth: {in: [\"09\", 8]}}", "'8' could never match"),
        ("{expiryMonth: {equals: 8}}", "'8' could never match"),
        ("{brand: VISAX}", "'VISAX' could never match: the API refuses it, as it must be one of AMEX,"),
        ('{vaultingRequestId: ""}', "must not be empty"),
        ("{vaultingRequestId: " + "x" * 65 + "}", "must be at most 64 characters"),
        ('{cardholderName: {firstName: "4054695723100768"}}',
         "'405469******0768' could never match: the API refuses it, as it must not contain a card number"),
    ])
    def test_a_value_the_api_refuses_could_never_match(self, match, fragment):
        issues = issues_of(f"rules:\n  - match: {match}\n    outcome: {{resultCode: RISK_REJECT}}\n")
        assert any(i.line == 2 and fragment in str(i) for i in issues), [str(i) for i in issues]
        assert VISA_OK not in " ".join(map(str, issues))

    def test_a_param_illegal_rule_may_name_a_refused_value_as_antoms_table_does(self):
        rules = sc.parse(doc("""
            rules:
              - match: {expiryMonth: "13"}
                outcome: {resultCode: PARAM_ILLEGAL}
              - match: {cvv: "99"}
                sequence: [{resultCode: PARAM_ILLEGAL}, {resultCode: PARAM_ILLEGAL}]
            """), "f.yaml").rules
        assert [c.value for r in rules for c in r.conditions] == ["13", "99"]
        # one other outcome in the rule and the value is an error again
        issues = issues_of("rules:\n  - match: {cvv: \"99\"}\n"
                           "    sequence: [{resultCode: PARAM_ILLEGAL}, {resultCode: SUCCESS}]\n")
        assert any("'99' could never match" in str(i) for i in issues), [str(i) for i in issues]

    def test_card_numbers_given_with_equals_or_in_are_card_rules(self, tmp_path):
        engine = engine_for(tmp_path, """
            rules:
              - match: {cardNo: {equals: "5162774114974622"}}
                outcome: {resultCode: RISK_REJECT}
              - match: {cardNo: {in: ["4054695723100768"]}}
                outcome: {resultCode: PROCESS_FAIL}
            """)
        assert [r.card_numbers() for r in engine.rules] == [["5162774114974622"], ["4054695723100768"]]
        assert engine.choose("C", "vaultPaymentMethod", request(), card_no=VISA_OK).result_code == "PROCESS_FAIL"

    def test_values_the_api_takes_load_as_the_api_loads_them(self, tmp_path):
        engine = engine_for(tmp_path, """
            rules:
              - match: {expiryMonth: "08", brand: visa, terminalType: app}
                outcome: {resultCode: RISK_REJECT}
            """)
        rule = engine.sets[0].rules[0]
        assert sorted(c.value for c in rule.conditions) == ["08", "APP", "VISA"]
        assert engine.choose("C", "vaultPaymentMethod", request(terminal="APP", brand="VISA")).result_code \
            == "RISK_REJECT"

    def test_all_problems_of_all_files_are_reported(self, tmp_path):
        (tmp_path / "a.yaml").write_text("rules:\n  - outcome: {resultCode: NOPE}\n")
        (tmp_path / "b.yaml").write_text("rules: [\n")
        (tmp_path / "c.yml").write_text("rules:\n  - outcome: {resultCode: SUCCESS}\n")
        with pytest.raises(sc.ScenarioError) as info:
            sc.ScenarioEngine(paths=[tmp_path, tmp_path / "missing.yaml"])
        text = str(info.value)
        assert f"{tmp_path / 'a.yaml'}:2: rule 1: outcome.resultCode: unknown result code 'NOPE'" in text
        assert f"{tmp_path / 'b.yaml'}:" in text and "invalid YAML" in text
        assert f"{tmp_path / 'missing.yaml'}: no such file or folder" in text
        assert "c.yml" not in text


# -- matching ------------------------------------------------------------------------------

class TestMatching:
    def test_card_bin_and_request_fields(self, tmp_path):
        engine = engine_for(tmp_path, """
            rules:
              - name: by-card
                match: {cardNo: "5162774114974622"}
                outcome: {resultCode: RISK_REJECT}
              - name: by-bin
                match: {bin: ["222300", "405469"]}
                outcome: {resultCode: VERIFICATION_FAIL, reason: CARD_NOT_SUPPORTED}
              - name: app-with-3ds
                match:
                  is3DSAuthentication: true
                  env: {terminalType: app}
                outcome: {resultCode: VERIFICATION_IN_PROCESS, urls: [schemeUrl, applinkUrl]}
              - name: by-request-id
                match: {vaultingRequestId: {prefix: "retry-"}}
                outcome: {resultCode: UNKNOWN_EXCEPTION}
              - name: by-regex
                match: {cardholderName.lastName: {regex: "^Fail"}}
                outcome: {resultCode: PROCESS_FAIL}
              - name: absent-region
                match: {merchantRegion: {present: true}, billingAddress: {present: false}}
                outcome: {resultCode: REQUEST_TRAFFIC_EXCEED_LIMIT}
            """)

        def code(req, card):
            return engine.choose("c", "vaultPaymentMethod", req, card).result_code

        assert code(request("5162774114974622"), "5162774114974622") == "RISK_REJECT"
        assert code(request("4054695723100768"), "4054695723100768") == "VERIFICATION_FAIL"
        assert code(request("4111111111111111", is3DSAuthentication="true", terminal="APP"),
                    "4111111111111111") == "VERIFICATION_IN_PROCESS"
        assert code(request("4111111111111111", is3DSAuthentication="true", terminal="WEB"),
                    "4111111111111111") == "SUCCESS"
        assert code(request("4111111111111111", request_id="retry-7"), "4111111111111111") == "UNKNOWN_EXCEPTION"
        failing = request("4111111111111111", cardholderName={"lastName": "Failing"})
        assert code(failing, "4111111111111111") == "PROCESS_FAIL"
        regional = {**request("4111111111111111"), "merchantRegion": "US"}
        assert code(regional, "4111111111111111") == "REQUEST_TRAFFIC_EXCEED_LIMIT"
        regional["paymentMethodDetail"]["card"]["billingAddress"] = {"region": "US"}
        assert code(regional, "4111111111111111") == "SUCCESS"

    def test_first_match_wins_and_user_files_come_before_the_catalogue(self, tmp_path):
        engine = engine_for(tmp_path, """
            rules:
              - match: {cardNo: "4054695723100768"}
                outcome: {resultCode: VERIFICATION_FAIL, reason: LOST_CARD}
              - match: {cardNo: "4054695723100768"}
                outcome: {resultCode: SUCCESS}
            """, builtin=True)
        outcome = engine.choose("c", "vaultPaymentMethod", request(), VISA_OK)
        assert (outcome.result_code, outcome.reason) == ("VERIFICATION_FAIL", "LOST_CARD")
        assert outcome.rule.endswith("rules.yaml:2")
        # the catalogue still answers for cards the file does not name
        declined = engine.choose("c", "vaultPaymentMethod", request("4054692760174822"), "4054692760174822")
        assert declined.result_code == "VERIFICATION_FAIL" and declined.reason == "DO_NOT_HONOR"

    def test_order_is_kept_between_card_rules_and_field_rules(self, tmp_path):
        engine = engine_for(tmp_path, """
            rules:
              - match: {cardNo: "5162774114974622"}
                outcome: {resultCode: RISK_REJECT}
              - match: {is3DSAuthentication: "true"}
                outcome: {resultCode: VERIFICATION_IN_PROCESS}
              - match: {cardNo: ["4054695723100768", "5162774114974622"]}
                outcome: {resultCode: PROCESS_FAIL}
            """)

        def code(card, three_ds):
            return engine.choose("c", "vaultPaymentMethod", request(card, is3DSAuthentication=three_ds),
                                 card).result_code

        assert code("5162774114974622", "true") == "RISK_REJECT"
        assert code("4054695723100768", "true") == "VERIFICATION_IN_PROCESS"
        assert code("4054695723100768", "false") == "PROCESS_FAIL"
        assert code("5162774114974622", "false") == "RISK_REJECT"

    def test_configurable_default_applies_to_vault_payment_method_only(self, tmp_path):
        engine = engine_for(tmp_path, """
            default: {resultCode: VERIFICATION_FAIL, reason: DO_NOT_HONOR}
            """)
        assert engine.choose("c", "vaultPaymentMethod", request(), VISA_OK).result_code == "VERIFICATION_FAIL"
        assert engine.choose("c", "inquireVaulting", {"vaultingRequestId": "x"}).result_code == "SUCCESS"

    def test_rules_apply_to_their_api_only(self, tmp_path):
        engine = engine_for(tmp_path, """
            rules:
              - api: inquireVaulting
                match: {vaultingRequestId: {prefix: "slow-"}}
                outcome: {delayMs: 10}
            """)
        assert engine.choose("c", "inquireVaulting", {"vaultingRequestId": "slow-1"}).delay_ms == 10
        assert engine.choose("c", "vaultPaymentMethod", request(request_id="slow-1"), VISA_OK).delay_ms == 0

    def test_fault_processed_defaults(self, tmp_path):
        engine = engine_for(tmp_path, """
            rules:
              - {match: {bin: "1"}, outcome: {fault: http_503}}
              - {match: {bin: "2"}, outcome: {fault: drop}}
              - {match: {bin: "3"}, outcome: {fault: timeout, processed: false}}
            """)
        got = [engine.choose("c", "vaultPaymentMethod", request(), n) for n in ("1", "2", "3")]
        assert [(o.fault, o.processed) for o in got] == [("http_503", False), ("drop", True), ("timeout", False)]


# -- sequences and per-client sets (state in SQLite) ----------------------------------------

SEQUENCE = """
rules:
  - name: flaky
    match: {cardNo: "4054695723100768"}
    sequence:
      - {resultCode: UNKNOWN_EXCEPTION}
      - {fault: http_503}
      - {resultCode: SUCCESS}
  - name: cycling
    match: {cardNo: "5162774114974622"}
    afterSequence: cycle
    sequence:
      - {resultCode: REQUEST_TRAFFIC_EXCEED_LIMIT}
      - {resultCode: SUCCESS}
"""


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db.sqlite3")
    yield s
    s.close()


class TestSequences:
    def test_repeat_last_and_cycle(self, tmp_path, store):
        engine = engine_for(tmp_path, SEQUENCE, store)

        def step(card):
            o = engine.choose("c", "vaultPaymentMethod", request(card), card)
            return o.fault or o.result_code

        assert [step(VISA_OK) for _ in range(5)] == ["UNKNOWN_EXCEPTION", "http_503", "SUCCESS", "SUCCESS", "SUCCESS"]
        mc = "5162774114974622"
        assert [step(mc) for _ in range(5)] == ["REQUEST_TRAFFIC_EXCEED_LIMIT", "SUCCESS"] * 2 \
            + ["REQUEST_TRAFFIC_EXCEED_LIMIT"]

    def test_state_is_per_client_and_shared_by_every_worker(self, tmp_path, store):
        worker_a = engine_for(tmp_path, SEQUENCE, store)
        other_connection = Store(tmp_path / "db.sqlite3")
        worker_b = sc.ScenarioEngine(other_connection, paths=[tmp_path / "rules.yaml"], include_builtin=False)
        codes = [w.choose("ci-1", "vaultPaymentMethod", request(), VISA_OK).result_code
                 for w in (worker_a, worker_b)]
        assert codes == ["UNKNOWN_EXCEPTION", "SUCCESS"]  # step 2 is the 503 fault (result SUCCESS)
        assert worker_b.choose("ci-1", "vaultPaymentMethod", request(), VISA_OK).rule.endswith("step 3/3)")
        assert worker_a.choose("ci-2", "vaultPaymentMethod", request(), VISA_OK).result_code == "UNKNOWN_EXCEPTION"
        assert worker_a.reset_state("ci-1") == 1
        assert worker_b.choose("ci-1", "vaultPaymentMethod", request(), VISA_OK).result_code == "UNKNOWN_EXCEPTION"
        other_connection.close()


class TestClientSets:
    def test_a_client_set_is_seen_by_that_client_only_and_by_every_worker(self, tmp_path, store):
        worker_a = sc.ScenarioEngine(store)
        other_connection = Store(tmp_path / "db.sqlite3")
        worker_b = sc.ScenarioEngine(other_connection)
        worker_a.put_client_set("JOB_1", doc("""
            default: {resultCode: RISK_REJECT}
            rules:
              - match: {cardNo: "4054695723100768"}
                outcome: {resultCode: VERIFICATION_FAIL, reason: STOLEN_CARD}
            """), now=0)
        assert worker_b.choose("JOB_1", "vaultPaymentMethod", request(), VISA_OK).reason == "STOLEN_CARD"
        assert worker_b.choose("JOB_2", "vaultPaymentMethod", request(), VISA_OK).result_code == "SUCCESS"
        unknown = request("4111111111111111")
        assert worker_b.choose("JOB_1", "vaultPaymentMethod", unknown, "4111111111111111").result_code \
            == "RISK_REJECT"
        assert worker_b.choose("JOB_2", "vaultPaymentMethod", unknown, "4111111111111111").result_code == "SUCCESS"
        # the catalogue still applies to the client after its own rules
        declined = worker_b.choose("JOB_1", "vaultPaymentMethod", request("4054692760174822"), "4054692760174822")
        assert declined.reason == "DO_NOT_HONOR"

        worker_b.put_client_set("JOB_1", "rules: []\n", now=1)
        assert worker_a.choose("JOB_1", "vaultPaymentMethod", request(), VISA_OK).result_code == "SUCCESS"
        assert worker_a.delete_client_set("JOB_1") is True
        assert worker_a.client_set("JOB_1") is None
        other_connection.close()

    def test_an_invalid_client_set_names_the_client_and_line_and_stores_nothing(self, store):
        engine = sc.ScenarioEngine(store)
        with pytest.raises(sc.ScenarioError) as info:
            engine.put_client_set("JOB_9", "rules:\n  - outcome: {resultCode: SUCCESS, urls: [normalUrl]}\n", now=0)
        assert str(info.value).startswith("clients/JOB_9:2: rule 1: outcome.urls:")
        assert store.get_scenario_set("JOB_9") is None

    def test_putting_a_set_again_restarts_its_sequences(self, store):
        engine = sc.ScenarioEngine(store)
        engine.put_client_set("JOB_1", SEQUENCE, now=0)
        assert engine.choose("JOB_1", "vaultPaymentMethod", request(), VISA_OK).result_code == "UNKNOWN_EXCEPTION"
        engine.put_client_set("JOB_1", SEQUENCE, now=1)
        assert engine.choose("JOB_1", "vaultPaymentMethod", request(), VISA_OK).result_code == "UNKNOWN_EXCEPTION"

    def test_json_is_accepted_as_well(self, store):
        engine = sc.ScenarioEngine(store)
        engine.put_client_set("JOB_1", '{"rules": [{"match": {"bin": "405469"}, '
                                       '"outcome": {"resultCode": "PROCESS_FAIL"}}]}', now=0)
        assert engine.choose("JOB_1", "vaultPaymentMethod", request(), VISA_OK).result_code == "PROCESS_FAIL"


def test_catalogue_listing_puts_the_client_set_first(store):
    engine = sc.ScenarioEngine(store)
    engine.put_client_set("JOB_1", "rules:\n  - description: everything fails\n"
                                   "    outcome: {resultCode: PROCESS_FAIL}\n", now=0)
    listing = engine.catalogue("JOB_1")
    assert listing["sources"][0] == "clients/JOB_1" and listing["sources"][-1] == sc.BUILTIN_LABEL
    first = listing["rules"][0]
    assert first["description"] == "everything fails" and first["match"] == "(any request)"
    assert first["outcome"] == "F PROCESS_FAIL"
    assert len(engine.catalogue()["rules"]) == len(listing["rules"]) - 1
