"""DPD bucket edges are checked where a pool's settings are set, naming the field and the rule."""

from __future__ import annotations

import pytest

from gateway.pools import CN_CONSUMER, US_CONSUMER, PoolConfig, PoolSettingsError, check_dpd_edges


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
