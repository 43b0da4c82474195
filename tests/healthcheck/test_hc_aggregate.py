"""The aggregation rule, exhaustively and by property (docs/adr/0007-health-aggregation.md)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthcheck.aggregate import Role, Rule, contribution, culprits, overall, parse_patterns
from healthcheck.model import Status, worst

OK, DEG, DOWN = Status.OK, Status.DEGRADED, Status.DOWN
RULE = Rule(critical=("db", "sched*"), degrade=("sync",), info=("alarms",), default_role=Role.DEGRADE)


def test_contribution_table() -> None:
    expected = {
        (Role.CRITICAL, OK): OK,
        (Role.CRITICAL, DEG): DEG,
        (Role.CRITICAL, DOWN): DOWN,
        (Role.DEGRADE, OK): OK,
        (Role.DEGRADE, DEG): DEG,
        (Role.DEGRADE, DOWN): DEG,
        (Role.INFO, OK): OK,
        (Role.INFO, DEG): OK,
        (Role.INFO, DOWN): OK,
    }
    for (role, status), want in expected.items():
        assert contribution(role, status) is want, (role, status)


def test_roles_by_pattern_and_precedence() -> None:
    assert RULE.role_of("db") is Role.CRITICAL
    assert RULE.role_of("scheduler") is Role.CRITICAL
    assert RULE.role_of("sync") is Role.DEGRADE
    assert RULE.role_of("alarms") is Role.INFO
    assert RULE.role_of("anything") is Role.DEGRADE
    assert Rule(default_role=Role.CRITICAL).role_of("anything") is Role.CRITICAL
    both = Rule(critical=("x*",), info=("x1",), degrade=("x1",))
    assert both.role_of("x1") is Role.CRITICAL  # critical wins, then info, then degrade
    assert Rule(info=("x1",), degrade=("x*",)).role_of("x1") is Role.INFO
    assert "critical=db,sched*" in RULE.describe() and "others=degrade" in RULE.describe()


def test_every_combination_of_three_components() -> None:
    names = ["db", "sync", "alarms"]  # critical, degrade, info
    for combo in itertools.product(list(Status), repeat=3):
        comps = dict(zip(names, combo, strict=True))
        db, sync, _alarms = combo
        if db is DOWN:
            want = DOWN
        elif db is DEG or sync in (DEG, DOWN):
            want = DEG
        else:
            want = OK
        assert overall(comps, RULE) is want, comps
        assert (culprits(comps, RULE) == []) == (want is OK)


def test_empty_is_ok() -> None:
    assert overall({}, RULE) is OK
    assert culprits({}, RULE) == []


def test_culprits_name_the_reason() -> None:
    comps = {"db": DOWN, "sync": DOWN, "sched": DEG, "alarms": DOWN}
    assert overall(comps, RULE) is DOWN
    assert culprits(comps, RULE) == ["db"]
    comps["db"] = OK
    assert culprits(comps, RULE) == ["sched", "sync"]


def test_parse_patterns() -> None:
    assert parse_patterns(" a, b* ,,c ") == ("a", "b*", "c")
    assert parse_patterns(["a", " ", "b"]) == ("a", "b")
    assert parse_patterns("") == ()


names = st.sampled_from(["db", "sched1", "sync", "alarms", "x", "y"])
statuses = st.sampled_from(list(Status))
comp_maps = st.dictionaries(names, statuses, max_size=6)
roles = st.sampled_from(list(Role))
rules = st.builds(
    Rule,
    critical=st.lists(names, max_size=3).map(tuple),
    degrade=st.lists(names, max_size=3).map(tuple),
    info=st.lists(names, max_size=3).map(tuple),
    default_role=roles,
)


@settings(deadline=None)  # pure and fast; no flaky deadline on a loaded machine
@given(comp_maps, rules)
def test_overall_is_worst_contribution(comps: dict[str, Status], rule: Rule) -> None:
    got = overall(comps, rule)
    assert got is worst(contribution(rule.role_of(n), s) for n, s in comps.items())
    assert got.rank <= worst(comps.values()).rank  # never worse than the worst component


@settings(deadline=None)  # pure and fast; no flaky deadline on a loaded machine
@given(comp_maps, rules, names, statuses)
def test_monotonic(comps: dict[str, Status], rule: Rule, name: str, new: Status) -> None:
    """Making one component worse never makes the overall status better, and vice versa."""
    before = overall(comps, rule)
    old = comps.get(name, OK)
    after = overall({**comps, name: new}, rule)
    if new.rank >= old.rank:
        assert after.rank >= before.rank
    else:
        assert after.rank <= before.rank


@settings(deadline=None)  # pure and fast; no flaky deadline on a loaded machine
@given(comp_maps, rules)
def test_down_only_through_critical(comps: dict[str, Status], rule: Rule) -> None:
    down = overall(comps, rule) is DOWN
    assert down == any(s is DOWN and rule.role_of(n) is Role.CRITICAL for n, s in comps.items())


@settings(deadline=None)  # pure and fast; no flaky deadline on a loaded machine
@given(comp_maps, rules)
def test_info_components_never_count(comps: dict[str, Status], rule: Rule) -> None:
    counted = {n: s for n, s in comps.items() if rule.role_of(n) is not Role.INFO}
    assert overall(comps, rule) is overall(counted, rule)


@settings(deadline=None)  # pure and fast; no flaky deadline on a loaded machine
@given(comp_maps, rules)
def test_all_ok_is_ok_and_degraded_anywhere_counted(comps: dict[str, Status], rule: Rule) -> None:
    got = overall(comps, rule)
    if all(s is OK for s in comps.values()):
        assert got is OK
    if any(s is not OK and rule.role_of(n) is not Role.INFO for n, s in comps.items()):
        assert got is not OK


@pytest.mark.parametrize("status", list(Status))
def test_rank_order(status: Status) -> None:
    assert [s.rank for s in (OK, DEG, DOWN)] == [0, 1, 2]
    assert worst([status, OK]) is status
