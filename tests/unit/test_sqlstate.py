"""Database errors are classified by SQLSTATE into the four failure classes of the design."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardwright.schema.errors import DatabaseMisconfigured
from cardwright.storage.sqlstate import Fault, classify


@pytest.mark.parametrize(
    ("sqlstate", "fault"),
    [
        ("08006", Fault.UNAVAILABLE),  # connection_failure
        ("08001", Fault.UNAVAILABLE),  # sqlclient_unable_to_establish_sqlconnection
        ("57P01", Fault.UNAVAILABLE),  # admin_shutdown
        ("57P02", Fault.UNAVAILABLE),
        ("57P03", Fault.UNAVAILABLE),  # cannot_connect_now
        ("53100", Fault.UNAVAILABLE),  # disk_full
        ("53300", Fault.UNAVAILABLE),  # too_many_connections
        ("40001", Fault.CONTENTION),  # serialization_failure
        ("40P01", Fault.CONTENTION),  # deadlock_detected
        ("55P03", Fault.CONTENTION),  # lock_not_available
        ("57014", Fault.CONTENTION),  # query_canceled: statement or lock timeout
        ("25006", Fault.CONFIGURATION),  # read_only_sql_transaction
        ("42501", Fault.CONFIGURATION),  # insufficient_privilege
        ("42P01", Fault.CONFIGURATION),  # undefined_table
        ("42703", Fault.CONFIGURATION),  # undefined_column
        ("3D000", Fault.CONFIGURATION),  # invalid_catalog_name
        ("28P01", Fault.CONFIGURATION),  # invalid_password
        ("28000", Fault.CONFIGURATION),  # invalid_authorization_specification
        ("22021", Fault.DATA),  # character_not_in_repertoire (NUL in text)
        ("22P05", Fault.DATA),  # untranslatable_character
        ("22001", Fault.DATA),  # string_data_right_truncation
        ("23505", Fault.DATA),  # unique_violation
        ("23514", Fault.DATA),  # check_violation
        ("42601", Fault.UNKNOWN),  # syntax_error: a bug of ours, nobody else's to fix
        ("XX000", Fault.UNKNOWN),  # internal_error
        ("25P02", Fault.UNKNOWN),  # in_failed_sql_transaction
        (None, Fault.UNKNOWN),
        ("", Fault.UNKNOWN),
    ],
)
def test_each_sqlstate_lands_in_its_failure_class(sqlstate: str, fault: Fault) -> None:
    assert classify(sqlstate).fault is fault


def test_configuration_faults_name_the_fix() -> None:
    read_only = classify("25006")
    error = DatabaseMisconfigured(read_only.sqlstate, read_only.fix, "cannot execute INSERT")
    assert str(error) == (
        "database is read-only (SQLSTATE 25006): point CARDWRIGHT_DATABASE_URL at the primary"
    )
    assert "cardwright migrate" in classify("42P01").fix


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=5, max_size=5))
def test_every_configuration_fault_names_a_fix_and_no_other_class_does(sqlstate: str) -> None:
    classified = classify(sqlstate)
    assert classified.sqlstate == sqlstate
    assert bool(classified.fix) == (classified.fault is Fault.CONFIGURATION)


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3))
def test_data_errors_are_exactly_classes_22_and_23(rest: str) -> None:
    for klass in ("22", "23"):
        assert classify(klass + rest).fault is Fault.DATA
    for klass in ("25", "40", "42", "08"):
        assert classify(klass + rest).fault is not Fault.DATA
