"""Tests for src/features.py: the notebook's logic, now testable."""

import pytest
from src.features import build_feature_matrix


def test_idle_customer_is_at_risk():
    (row,) = build_feature_matrix(
        [{"customer": "acme", "seats": 40, "logins_90d": 3}]
    )
    assert row == {
        "customer": "acme",
        "logins_per_seat": 0.07,
        "at_risk": True,
    }


def test_busy_customer_is_not_at_risk():
    (row,) = build_feature_matrix(
        [{"customer": "globex", "seats": 10, "logins_90d": 120}]
    )
    assert row["at_risk"] is False


def test_zero_seats_is_rejected():
    with pytest.raises(ValueError, match="seats must be positive"):
        build_feature_matrix(
            [{"customer": "initech", "seats": 0, "logins_90d": 5}]
        )
