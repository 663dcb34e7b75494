"""Every invalid input is a 400 naming the field (never a 500); too big is 413; too many is 429."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from allocations.models import AllocationRun, AuditEntry, SectorSignal, StrategyReturn
from tests.problems import problem_fields

BASE = "/api/v1/portfolios/demo"
REBALANCE = BASE + "/allocation/rebalance"


def post_raw(client, path, text, content_type="application/json"):
    return client.post(path, data=text, content_type=content_type)


def error_keys(response) -> str:
    """All the keys and messages of an error body, flattened, for 'names the field' checks."""
    return json.dumps(response.json())


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"total_equity": NaN}', "total_equity"),
        ('{"total_equity": Infinity}', "total_equity"),
        ('{"total_equity": -Infinity}', "total_equity"),
        ('{"total_equity": 1e400}', "total_equity"),
        ('{"total_equity": -1e400}', "total_equity"),
        (
            '{"sector_signals": [{"sector": "energy", "action": "BUY", "confidence": NaN}]}',
            "sector_signals[0].confidence",
        ),
        ('{"strategy_performance": {"tech-0001": {"sharpe": Infinity}}}', "strategy_performance.tech-0001.sharpe"),
    ],
)
def test_non_finite_numbers_in_raw_json_are_400_naming_the_field(client_as, demo, text, field):
    response = post_raw(client_as("pm"), REBALANCE, text)
    assert response.status_code == 400, response.content
    assert field in problem_fields(response)
    assert not AllocationRun.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"total_equity": "NaN"}, "total_equity"),
        ({"total_equity": "Infinity"}, "total_equity"),
        ({"total_equity": 0}, "total_equity"),
        ({"total_equity": -5}, "total_equity"),
        ({"total_equity": "lots"}, "total_equity"),
        ({"allocation_method": "astrology"}, "allocation_method"),
        ({"sector_signals": [{"sector": "energy", "action": "SHORT", "confidence": 0.5}]}, "sector_signals[0].action"),
        (
            {"sector_signals": [{"sector": "energy", "action": "BUY", "confidence": 1.5}]},
            "sector_signals[0].confidence",
        ),
        ({"strategy_performance": {"tech-0001": {"volatility": 0}}}, "strategy_performance.tech-0001.volatility"),
    ],
)
def test_rebalance_shape_errors_name_the_field(client_as, demo, body, field):
    """Moved from the service's tests: the serializer is the one boundary for shape and type."""
    response = client_as("pm").post(REBALANCE, body, format="json")
    assert response.status_code == 400, response.content
    assert field in problem_fields(response), response.content
    assert not AllocationRun.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"total_equity": -1000}, "total_equity"),
        ({"total_equity": 0}, "total_equity"),
        ({"total_equity": "0.00"}, "total_equity"),
        ({"total_equity": "lots"}, "total_equity"),
        ({"total_equity": True}, "total_equity"),
        ({"total_equity": "1e400"}, "total_equity"),
        ({"total_equity": "NaN"}, "total_equity"),
        ({"allocation_method": "magic"}, "allocation_method"),
        ({"allocation_method": 3}, "allocation_method"),
        ({"force_rebalance": "perhaps"}, "force_rebalance"),
        ({"dry_run": [True]}, "dry_run"),
        ({"sector_signals": [{"sector": "no-such-sector", "action": "BUY", "confidence": 0.5}]}, "sector"),
        ({"sector_signals": [{"sector": "energy", "action": "SHORT", "confidence": 0.5}]}, "action"),
        ({"sector_signals": [{"sector": "energy", "action": "BUY", "confidence": 1.5}]}, "confidence"),
        ({"sector_signals": [{"sector": "energy", "action": "BUY", "confidence": -0.1}]}, "confidence"),
        ({"sector_signals": [{"sector": "energy", "action": "BUY", "confidence": "high"}]}, "confidence"),
        ({"sector_signals": "BUY energy"}, "sector_signals"),
        ({"strategy_performance": {"no-such-strategy": {"sharpe": 1.0}}}, "no-such-strategy"),
        ({"strategy_performance": {"tech-0001": {"volatility": 0}}}, "volatility"),
        ({"strategy_performance": {"tech-0001": {"volatility": -0.2}}}, "volatility"),
        ({"strategy_performance": {"tech-0001": {"alpha": 1}}}, "alpha"),
        ({"strategy_performance": ["tech-0001"]}, "strategy_performance"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_rebalance_requests_are_400_naming_the_field(client_as, demo, body, field):
    response = client_as("pm").post(REBALANCE, body, format="json")
    assert response.status_code == 400, response.content
    assert field in error_keys(response)
    assert not AllocationRun.objects.exists()


@pytest.mark.parametrize("text", ["{", "[1, 2", '{"total_equity": 1', "\x00", '{"a": ' * 5000, "1" * 5000])
def test_malformed_json_is_400(client_as, demo, text):
    assert post_raw(client_as("pm"), REBALANCE, text).status_code == 400


@pytest.mark.parametrize("text", ["[]", '"text"', "42", "null"])
def test_a_body_that_is_not_an_object_is_400(client_as, demo, text):
    assert post_raw(client_as("pm"), REBALANCE, text).status_code == 400


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"date": "2024-01-02", "strategy": "tech-0001", "return": -1}, "returns[0]"),
        ({"date": "2024-01-02", "strategy": "tech-0001", "return": -1.5}, "returns[0]"),
        ({"date": "2024-13-45", "strategy": "tech-0001", "return": 0.01}, "returns[0]"),
        ({"date": "yesterday", "strategy": "tech-0001", "return": 0.01}, "returns[0]"),
        ({"date": "2024-01-02", "strategy": "ghost", "return": 0.01}, "returns[0]"),
        ({"date": "2024-01-02", "strategy": "tech-0001", "return": "0.01"}, "returns[0].return"),
        ({"date": "2024-01-02", "strategy": "tech-0001", "return": True}, "returns[0].return"),
        ({"date": "2024-01-02", "strategy": "tech-0001"}, "returns[0]"),
        ({"date": 20240102, "strategy": "tech-0001", "return": 0.01}, "returns[0]"),
    ],
)
def test_bad_return_rows_are_400_naming_the_row_and_nothing_is_stored(client_as, demo, row, field):
    before = StrategyReturn.objects.count()
    response = client_as("pm").post(BASE + "/returns/", {"returns": [row]}, format="json")
    assert response.status_code == 400, response.content
    assert field in problem_fields(response)
    assert StrategyReturn.objects.count() == before


def test_a_return_of_nan_in_raw_json_is_400(client_as, demo):
    text = '{"returns": [{"date": "2024-01-02", "strategy": "tech-0001", "return": NaN}]}'
    response = post_raw(client_as("pm"), BASE + "/returns/", text)
    assert response.status_code == 400
    assert "returns[0].return" in problem_fields(response)


@pytest.mark.parametrize(
    ("csv_text", "field"),
    [
        ("date,strategy,return\n2024-01-02,tech-0001,-1\n", "line 2"),
        ("date,strategy,return\n2024-02-30,tech-0001,0.01\n", "line 2"),
        ("date,strategy,return\n2024-01-02,tech-0001,nan\n", "line 2"),
        ("date,strategy,return\n2024-01-02,tech-0001,0.01\n2024-01-03,ghost,0.01\n", "line 3"),
        ("day,code,value\n2024-01-02,tech-0001,0.01\n", "line 1"),
        ("", "returns"),  # an empty body: nothing to parse
        ("\u00f9\u0088\r\u00d3", "line 1"),  # a bare carriage return (found by schemathesis)
        ("date,strategy,return\r2024-01-02,tech-0001,-1\r", "line 2"),
        ('date,strategy,return\n"2024-01-02,tech-0001,0.01\n', "line 2"),
    ],
)
def test_bad_csv_is_400_naming_the_line(client_as, demo, csv_text, field):
    response = post_raw(client_as("pm"), BASE + "/returns/", csv_text, content_type="text/csv")
    assert response.status_code == 400, response.content
    assert field in problem_fields(response)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sector": "energy", "action": "BUY", "confidence": 1.01}, "confidence"),
        ({"sector": "energy", "action": "BUY", "confidence": -0.5}, "confidence"),
        ({"sector": "energy", "action": "BUY", "confidence": False}, "confidence"),
        ({"sector": "atlantis", "action": "BUY"}, "sector"),
        ({"sector": "energy", "action": "buy-ish"}, "action"),
        ({"sector": "energy", "action": "BUY", "as_of": "not a time"}, "as_of"),
        ({"sector": "energy", "action": "BUY", "as_of": "9999-12-31T23:00:00-15:00"}, "as_of"),
        ({"action": "BUY"}, "sector"),
    ],
)
def test_bad_signals_are_400_naming_the_field(client_as, demo, body, field):
    before = SectorSignal.objects.count()
    response = client_as("pm").post(BASE + "/signals/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in problem_fields(response)
    assert SectorSignal.objects.count() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_total_risk": 0}, "max_total_risk"),
        ({"max_total_risk": 1.5}, "max_total_risk"),
        ({"lookback_period": 1}, "lookback_period"),
        ({"lookback_period": 2.5}, "lookback_period"),
        ({"method": "magic"}, "method"),
        ({"covariance_estimator": "guess"}, "covariance_estimator"),
        ({"rebalance_time": "25:00"}, "rebalance_time"),
        ({"version": 7}, "version"),
    ],
)
def test_bad_policy_changes_are_400_naming_the_field(client_as, demo, body, field):
    response = client_as("risk").patch(BASE + "/policy/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in problem_fields(response)


def test_an_unknown_method_is_400_naming_method(client_as, demo):
    response = client_as("risk").put(BASE + "/allocation/method/astrology", {}, format="json")
    assert response.status_code == 400
    assert "method" in problem_fields(response)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "has space", "name": "x", "sector": "energy"}, "code"),
        ({"code": "tech-0001", "name": "dup", "sector": "energy"}, "code"),
        ({"code": "ok-1", "name": "x", "sector": "nowhere"}, "sector"),
        ({"code": "ok-1", "name": "x", "sector": "energy", "risk_budget": 0}, "risk_budget"),
        ({"code": "ok-1", "name": "", "sector": "energy"}, "name"),
    ],
)
def test_bad_strategies_are_400_naming_the_field(client_as, demo, body, field):
    response = client_as("risk").post(BASE + "/strategies/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in problem_fields(response)


@pytest.mark.parametrize(
    "query",
    [
        "from=not-a-date",
        "to=2024-99-99",
        "kind=nonsense",
        "limit=abc",
        "offset=-3",
        "limit=100000000000",
        "from=2024-01-01T00:00:00%2B16:41",  # PostgreSQL refuses offsets past 15:59
        "to=9999-12-31T23:00:00-15:00",  # past year 9999 in UTC
        "from=0001-01-01T00:00:00%2B01:00",
    ],
)
def test_bad_list_filters_are_400_or_ignored_never_500(client_as, demo, query):
    response = client_as("viewer").get(BASE + f"/audit/?{query}")
    assert response.status_code in (200, 400)


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
@pytest.mark.parametrize("content_type", ["application/json", "text/csv"])
def test_an_oversized_body_is_413(client_as, demo, content_type):
    text = json.dumps({"returns": [{"date": "2024-01-02", "strategy": "tech-0001", "return": 0.01}] * 200})
    if content_type == "text/csv":
        text = "date,strategy,return\n" + "2024-01-02,tech-0001,0.01\n" * 200
    response = post_raw(client_as("pm"), BASE + "/returns/", text, content_type=content_type)
    assert response.status_code == 413


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
def test_an_oversized_body_with_an_idempotency_key_is_413(client_as, demo):
    text = json.dumps({"total_equity": 1, "pad": "x" * 5000})
    response = client_as("pm").post(REBALANCE, data=text, content_type="application/json", HTTP_IDEMPOTENCY_KEY="big")
    assert response.status_code == 413


def test_writes_are_throttled_per_user_and_reads_are_not(client_as, demo, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"writes": "3/min", "login": "9/min"},
    }
    pm = client_as("pm")
    statuses = [pm.post(REBALANCE, {"dry_run": True}, format="json").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert pm.get(BASE + "/allocation/current").status_code == 200  # reads are not counted
    # another user has their own budget
    assert client_as("integration").post(REBALANCE, {"dry_run": True}, format="json").status_code == 200


LONE_SURROGATE = "\\ud800"  # the JSON escape of a lone UTF-16 surrogate: it decodes to no Unicode text


@pytest.mark.parametrize(
    ("method", "path", "text", "field"),
    [
        ("post", REBALANCE, '{"allocation_method": "%s"}', "allocation_method"),
        ("post", REBALANCE, '{"sector_signals": [{"sector": "energy", "action": "%s"}]}', "sector_signals[0].action"),
        ("post", REBALANCE, '{"sector_signals": [{"sector": "%s", "action": "BUY"}]}', "sector_signals[0].sector"),
        ("post", REBALANCE, '{"%s": 1}', "\\ud800"),  # the key, shown as its escape
        ("post", REBALANCE, '{"strategy_performance": {"%s": {"sharpe": 1}}}', "strategy_performance.\\ud800"),
        ("patch", BASE + "/policy/", '{"method": "%s"}', "method"),
        ("patch", BASE + "/policy/", '{"covariance_estimator": "%s"}', "covariance_estimator"),
        ("patch", BASE + "/policy/", '{"rebalance_frequency": "%s"}', "rebalance_frequency"),
        ("patch", BASE + "/policy/", '{"reason": "%s"}', "reason"),
        ("put", BASE + "/allocation/method/equal_weight", '{"reason": "%s"}', "reason"),
        ("post", BASE + "/signals/", '{"sector": "energy", "action": "%s"}', "action"),
        ("post", BASE + "/signals/", '{"sector": "energy", "action": "BUY", "source": "%s"}', "source"),
        ("post", BASE + "/strategies/", '{"code": "ok-1", "name": "%s", "sector": "energy"}', "name"),
        (
            "post",
            BASE + "/returns/",
            '{"returns": [{"date": "2024-01-02", "strategy": "tech-0001", "return": 0.01}], "source": "%s"}',
            "source",
        ),
        (
            "post",
            BASE + "/returns/",
            '{"returns": [{"date": "2024-01-02", "strategy": "%s", "return": 0.01}]}',
            "returns[0].strategy",
        ),
        ("post", "/api/v1/auth/token/", '{"username": "%s", "password": "x"}', "username"),
    ],
)
def test_a_lone_surrogate_in_any_string_is_400_naming_the_field(client_as, demo, method, path, text, field):
    """Issue 8 item 4: ``"\\ud800"`` is valid JSON but no text; echoing it in an error answered 500."""
    before = AllocationRun.objects.count(), SectorSignal.objects.count(), StrategyReturn.objects.count()
    response = getattr(client_as("risk"), method)(path, data=text % LONE_SURROGATE, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in problem_fields(response), response.content
    assert "not valid Unicode text" in error_keys(response)
    assert (AllocationRun.objects.count(), SectorSignal.objects.count(), StrategyReturn.objects.count()) == before


def test_a_surrogate_pair_is_ordinary_text(client_as, demo):
    """The escape of a character outside the BMP (here U+1F600) is two surrogates that make one character."""
    text = '{"sector": "energy", "action": "BUY", "source": "feed \\ud83d\\ude00"}'
    response = client_as("pm").post(BASE + "/signals/", data=text, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["source"] == "feed \U0001f600"


HUGE_INTEGER = "1" + "0" * 400  # a valid JSON number no float holds


@pytest.mark.parametrize(
    ("method", "path", "text", "field"),
    [
        (
            "post",
            BASE + "/returns/",
            '{"returns": [{"date": "2024-01-02", "strategy": "tech-0001", "return": %s}]}',
            "returns[0].return",
        ),
        (
            "post",
            BASE + "/returns/",
            '{"returns": [{"date": "2024-01-02", "strategy": "tech-0001", "return": -%s}]}',
            "returns[0].return",
        ),
        (
            "post",
            REBALANCE,
            '{"sector_signals": [{"sector": "energy", "action": "BUY", "confidence": %s}]}',
            "sector_signals[0].confidence",
        ),
        ("post", REBALANCE, '{"total_equity": %s}', "total_equity"),
        ("patch", BASE + "/policy/", '{"max_total_risk": %s}', "max_total_risk"),
        ("patch", BASE + "/policy/", '{"lookback_period": %s}', "lookback_period"),
    ],
)
def test_an_integer_too_large_for_a_float_is_400_naming_the_field(client_as, demo, method, path, text, field):
    """Issue 8 item 4: a 400-digit ``return`` raised OverflowError converting it to float (500)."""
    before = StrategyReturn.objects.count()
    response = getattr(client_as("risk"), method)(path, data=text % HUGE_INTEGER, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in problem_fields(response), response.content
    assert StrategyReturn.objects.count() == before
    assert not AllocationRun.objects.exists()


def test_the_ingestion_service_refuses_an_integer_too_large_for_a_float(demo):
    """The service is called by the API, the CSV command and tests: it checks the conversion itself."""
    from allocations.errors import DomainError
    from allocations.services.actors import Actor
    from allocations.services.ingestion import ReturnRow, returns_import

    row = ReturnRow(line=2, date="2024-01-02", strategy="tech-0001", value=10**400)
    with pytest.raises(DomainError) as caught:
        returns_import(portfolio=demo, rows=[row], actor=Actor.system("test"), source="test")
    assert caught.value.field == "line 2"
    assert "not finite" in caught.value.message


# Issue 21 item 17: outliers refused naming the row and the bound; CSV errors each under their own line.

RETURNS = BASE + "/returns/"


def test_an_outlying_json_return_is_400_naming_the_row_and_the_bound(client_as, demo):
    rows = [
        {"date": "2020-01-02", "strategy": "tech-0001", "return": 0.01},
        {"date": "2020-01-02", "strategy": "fina-0002", "return": 1.5},
    ]
    response = client_as("pm").post(RETURNS, {"returns": rows}, format="json")
    assert response.status_code == 400, response.content
    (message,) = problem_fields(response)["returns[1]"]
    assert "return 1.5 is beyond the bound of ±0.5 (MAX_ABS_DAILY_RETURN) for fina-0002 on 2020-01-02" in message
    assert not StrategyReturn.objects.filter(date="2020-01-02").exists()


def test_an_outlying_json_return_is_loaded_when_the_body_allows_it(client_as, demo):
    rows = [{"date": "2020-01-02", "strategy": "fina-0002", "return": 1.5}]
    response = client_as("pm").post(RETURNS, {"returns": rows, "allow_outliers": True}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["outliers"] == 1
    entry = AuditEntry.objects.filter(kind="data_import").latest("seq")
    assert entry.payload["allow_outliers"] is True and entry.payload["outliers"] == 1


def test_an_outlying_csv_return_is_400_on_its_line_unless_the_query_allows_it(client_as, demo):
    text = "date,strategy,return\n2020-01-02,tech-0001,0.01\n2020-01-02,fina-0002,-0.75\n"
    response = post_raw(client_as("pm"), RETURNS, text, content_type="text/csv")
    assert response.status_code == 400, response.content
    assert "MAX_ABS_DAILY_RETURN" in problem_fields(response)["line 3"][0]
    allowed = post_raw(client_as("pm"), RETURNS + "?allow_outliers=true", text, content_type="text/csv")
    assert allowed.status_code == 201, allowed.content
    assert allowed.json()["outliers"] == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (RETURNS + "?allow_outliers=maybe", "date,strategy,return\n2020-01-02,tech-0001,0.01\n"),
        (RETURNS, {"returns": [{"date": "2020-01-02", "strategy": "tech-0001", "return": 0.01}], "allow_outliers": 1}),
    ],
)
def test_allow_outliers_is_true_or_false(client_as, demo, path, body):
    if isinstance(body, str):
        response = post_raw(client_as("pm"), path, body, content_type="text/csv")
    else:
        response = client_as("pm").post(path, body, format="json")
    assert response.status_code == 400, response.content
    assert "allow_outliers" in problem_fields(response)


def test_every_bad_csv_line_is_listed_under_its_own_line(client_as, demo):
    """The answer said "line 3: line 4: unknown strategy": every message sat under the first bad line."""
    text = "date,strategy,return\n2020-01-02,tech-0001,0.01\n2020-01-02,ghost,0.01\n2020-01-02,spook,x\n"
    response = post_raw(client_as("pm"), RETURNS, text, content_type="text/csv")
    assert response.status_code == 400, response.content
    assert problem_fields(response) == {
        "line 3": ["unknown strategy 'ghost'"],
        "line 4": ["unknown strategy 'spook'", "return 'x' is not a number"],
    }
    assert "line 3: line 4" not in response.json()["detail"]


def test_every_bad_json_row_is_listed_under_its_own_index(client_as, demo):
    rows = [
        {"date": "2020-01-02", "strategy": "ghost", "return": 0.01},
        {"date": "2020-01-02", "strategy": "tech-0001", "return": 0.01},
        {"date": "2020-01-02", "strategy": "tech-0001", "return": 0.02},
    ]
    response = client_as("pm").post(RETURNS, {"returns": rows}, format="json")
    assert response.status_code == 400, response.content
    assert problem_fields(response) == {
        "returns[0]": ["unknown strategy 'ghost'"],
        "returns[2]": ["tech-0001 on 2020-01-02 already given on returns[1]"],
    }


# Issue 21 item 18: an unknown method, estimator or sector is refused with the list of valid ones.


def _sector_codes():
    from allocations.models import Sector

    return sorted(Sector.objects.values_list("code", flat=True))


@pytest.mark.parametrize(
    ("role", "method", "path", "body", "field", "valid"),
    [
        ("pm", "post", REBALANCE, {"allocation_method": "risk-parity"}, "allocation_method", "methods"),
        ("risk", "patch", BASE + "/policy/", {"method": "risk-parity"}, "method", "methods"),
        ("risk", "patch", BASE + "/policy/", {"covariance_estimator": "shrunk"}, "covariance_estimator", "estimators"),
        ("pm", "post", BASE + "/signals/", {"sector": "Energy", "action": "BUY"}, "sector", "sectors"),
        (
            "pm",
            "post",
            REBALANCE,
            {"sector_signals": [{"sector": "atlantis", "action": "BUY"}], "dry_run": True},
            "sector_signals[0].sector",
            "sectors",
        ),
        (
            "risk",
            "post",
            BASE + "/strategies/",
            {"code": "m-1", "name": "M", "sector": "atlantis"},
            "sector",
            "sectors",
        ),
        ("risk", "patch", BASE + "/strategies/tech-0001/", {"sector": "atlantis"}, "sector", "sectors"),
    ],
)
def test_an_unknown_name_is_refused_listing_the_valid_ones(client_as, demo, role, method, path, body, field, valid):
    from allocations import engine

    names = {"methods": engine.METHODS, "estimators": engine.COVARIANCE_ESTIMATORS, "sectors": _sector_codes()}[valid]
    response = getattr(client_as(role), method)(path, body, format="json")
    assert response.status_code == 400, response.content
    (message,) = problem_fields(response)[field]
    assert f"expected one of {', '.join(sorted(names))}" in message, message


# Issue 21 item 19: invisible and direction-changing characters in names.


@pytest.mark.parametrize("name", ["Macro \u202eA", "Ma\u200bcro", "Macro\u2066", "\ufeffMacro"])
def test_a_strategy_name_with_an_invisible_character_is_400_naming_name(client_as, demo, name):
    from allocations.models import Strategy

    created = client_as("risk").post(
        BASE + "/strategies/", {"code": "macro-9", "name": name, "sector": "energy"}, format="json"
    )
    assert created.status_code == 400, created.content
    assert "invisible or direction-changing" in problem_fields(created)["name"][0]
    renamed = client_as("risk").patch(BASE + "/strategies/tech-0001/", {"name": name}, format="json")
    assert renamed.status_code == 400 and "name" in problem_fields(renamed)
    assert not Strategy.objects.filter(code="macro-9").exists()


def test_every_malformed_json_row_is_listed_not_only_the_first(client_as, demo):
    """Issue 21 item 17: a JSON body's shape errors stopped at the first row."""
    rows = [
        {"date": "2020-01-02", "strategy": "tech-0001", "return": "0.01"},
        {"date": "2020-01-02", "strategy": "tech-0001", "return": 0.01},
        {"date": "2020-01-03", "strategy": "tech-0001"},
        {"date": "2020-01-04", "strategy": "tech-0001", "return": True},
    ]
    response = client_as("pm").post(RETURNS, {"returns": rows}, format="json")
    assert response.status_code == 400, response.content
    assert set(problem_fields(response)) == {"returns[0].return", "returns[2]", "returns[3].return"}


def test_every_bad_row_is_counted_past_the_listed_ones(client_as, demo):
    from allocations.services.ingestion import MAX_REPORTED_ERRORS

    text = "date,strategy,return\n" + "".join(f"2020-01-02,ghost-{k},0.01\n" for k in range(30))
    response = post_raw(client_as("pm"), RETURNS, text, content_type="text/csv")
    assert response.status_code == 400
    assert len(problem_fields(response)) == MAX_REPORTED_ERRORS
