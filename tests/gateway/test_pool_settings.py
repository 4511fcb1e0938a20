"""DPD bucket edges are checked where a pool's settings are set, naming the field and the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import create_app
from gateway.ingest.pool_settings import (
    CN_CONSUMER,
    US_CONSUMER,
    PoolConfig,
    PoolSettingsError,
    check_dpd_edges,
)

from .helpers import make_instance


@pytest.mark.parametrize(
    ("edges", "rule"),
    [
        (tuple(range(121)), "dpd_edges.count"),
        ((0, 30, 60), "dpd_edges.count"),
        ((0, 30, 60, 2**70), "dpd_edges.max_edge"),
        ((0, 30, 60, 1096), "dpd_edges.max_edge"),
        ((0, 1, 2, 3), "dpd_edges.min_width"),
        ((0, 30, 45, 90), "dpd_edges.min_width"),
        ((0, 60, 30, 90), "dpd_edges.increasing"),
        ((1, 30, 60, 90), "dpd_edges.first_is_current"),
        ((0, 30.0, 60, 90), "dpd_edges.integers"),
        ((0, True, 60, 90), "dpd_edges.integers"),
    ],
)
def test_bad_dpd_edges_are_refused_naming_field_and_rule(edges: tuple[object, ...], rule: str) -> None:
    with pytest.raises(PoolSettingsError) as err:
        CN_CONSUMER.with_overrides(dpd_edges=edges)
    assert err.value.field == "dpd_edges"
    assert err.value.rule == rule
    assert "dpd_edges" in str(err.value)
    assert rule in str(err.value)


def test_sane_edges_are_accepted() -> None:
    assert check_dpd_edges((0, 30, 60, 90)) == (0, 30, 60, 90)
    assert check_dpd_edges([0, 30, 90, 1095]) == (0, 30, 90, 1095)
    cfg = US_CONSUMER.with_overrides(dpd_edges=(0, 31, 62, 93))
    assert PoolConfig.from_dict(cfg.to_dict()) == cfg


def test_labels_must_be_one_short_text_per_bucket() -> None:
    with pytest.raises(PoolSettingsError, match=r"dpd_labels\.one_per_bucket"):
        CN_CONSUMER.with_overrides(dpd_labels=("a", "b"))
    with pytest.raises(PoolSettingsError, match=r"dpd_labels\.short_text"):
        CN_CONSUMER.with_overrides(dpd_labels=("M0", "M1", "M2", "M3", "x" * 17))


def test_the_policy_can_ask_for_wider_buckets_and_pool_creation_enforces_it(tmp_path: Path) -> None:
    import policies

    src = Path(policies.__file__).parent
    (tmp_path / "catalogue.toml").write_bytes((src / "catalogue.toml").read_bytes())
    text = (src / "default_policy.toml").read_text(encoding="utf-8")
    assert "dpd_min_bucket_days = 30" in text
    (tmp_path / "policy.toml").write_text(
        text.replace("dpd_min_bucket_days = 30", "dpd_min_bucket_days = 45")
    )
    inst = make_instance(tmp_path)
    plat = inst.add_platform("plat1")
    app = create_app(inst.config(POLICY_PATH=str(tmp_path / "policy.toml")))
    h = {"Authorization": f"Bearer {plat.api_key}"}
    with app.test_client() as client:
        narrow = client.post(
            "/platform/pools", json={"pool_id": "P1", "settings": {"preset": "CN_CONSUMER"}}, headers=h
        )
        assert narrow.status_code == 422
        message = narrow.json["errors"]["json"]["settings"][0]
        assert message.startswith("dpd_edges:")
        assert "dpd_edges.min_width" in message
        assert "45 days" in message
        wide = client.post(
            "/platform/pools",
            json={"pool_id": "P1", "settings": {"preset": "CN_CONSUMER", "dpd_edges": [0, 45, 90, 135]}},
            headers=h,
        )
        assert wide.status_code == 201, wide.json


def test_a_policy_with_a_bad_bucket_width_does_not_load(tmp_path: Path) -> None:
    import policies
    from policies import PolicyFileError, load_policy

    src = Path(policies.__file__).parent
    (tmp_path / "catalogue.toml").write_bytes((src / "catalogue.toml").read_bytes())
    text = (src / "default_policy.toml").read_text(encoding="utf-8")
    (tmp_path / "policy.toml").write_text(text.replace("dpd_min_bucket_days = 30", "dpd_min_bucket_days = 0"))
    with pytest.raises(PolicyFileError, match="dpd_min_bucket_days"):
        load_policy(tmp_path / "policy.toml")
