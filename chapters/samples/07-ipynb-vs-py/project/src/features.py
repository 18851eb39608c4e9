"""Feature engineering that graduated from notebooks/01_eda.ipynb.

It started life as a notebook cell; now it has a docstring, a test and
one home.
"""

from __future__ import annotations

IDLE_LOGINS_PER_SEAT = 0.5


def build_feature_matrix(rows: list[dict]) -> list[dict]:
    """One feature row per customer: logins per seat, churn-risk flag.

    Each input row needs ``customer``, ``seats`` and ``logins_90d``
    (logins in the last 90 days). A customer is at risk when fewer than
    IDLE_LOGINS_PER_SEAT logins per seat were seen.
    """
    features = []
    for row in rows:
        if row["seats"] <= 0:
            raise ValueError(f"{row['customer']}: seats must be positive")
        per_seat = row["logins_90d"] / row["seats"]
        features.append(
            {
                "customer": row["customer"],
                "logins_per_seat": round(per_seat, 2),
                "at_risk": per_seat < IDLE_LOGINS_PER_SEAT,
            }
        )
    return features
