"""The [platforms] and [settlement] settings: parsed, and bad values named by file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.config import ConfigError, ensure_data_dir, load_settings


def test_parsed(tmp_path: Path) -> None:
    ensure_data_dir(tmp_path)
    (tmp_path / "cloud.toml").write_text(
        '[platforms]\nmeituan_secret = "s"\nmeituan_shops = "mt-1=s1, mt-2=s2"\n'
        'eleme_commission_bp = 1200\n[settlement]\nshared_items = "PKG=100,PROMO=5"\n'
        'tier_mode = "stepped"\n')
    settings = load_settings(tmp_path, env={})
    assert settings.platforms.enabled("meituan").shops == {"mt-1": "s1", "mt-2": "s2"}
    assert settings.platforms.enabled("eleme") is None
    assert settings.platforms.commission_bp() == {"meituan": 1800, "eleme": 1200}
    assert settings.settlement.shared_items == {"PKG": 100, "PROMO": 5}
    assert settings.settlement.tier_mode == "stepped"


@pytest.mark.parametrize("text, message", [
    ('[platforms]\nmeituan_shops = "mt-1"\n', "platforms.meituan_shops: 'mt-1' is not SHOP=STORE"),
    ('[platforms]\neleme_shops = "a=s1,a=s2"\n', "shop 'a' listed twice"),
    ('[platforms]\ngeneric_channel = "pos"\n', "platforms.generic_channel must be one of"),
    ('[platforms]\nmax_skew_s = 1\n', "platforms.max_skew_s must be between 10 and 3600"),
    ('[platforms]\nmeituan_callback_url = "ftp://x"\n', "meituan_callback_url must be an http"),
    ('[settlement]\ntier_mode = "curvy"\n', "settlement.tier_mode must be one of"),
    ('[settlement]\ntier_low_visitors = 900\n', "tier_low_visitors must be >= 0 and <="),
    ('[settlement]\nreserve_bp = 10001\n', "settlement.reserve_bp must be between 0 and 10000"),
    ('[settlement]\nshared_items = "PKG=ten"\n', "settlement.shared_items: 'PKG=ten'"),
    ('[forecast]\nholidays = "2026-02-30"\n', "forecast.holidays: '2026-02-30' is not a day"),
    ('[forecast]\nweeks = 0\n', "forecast.weeks must be between 1 and 26"),
])
def test_bad_values(tmp_path: Path, text: str, message: str) -> None:
    ensure_data_dir(tmp_path)
    (tmp_path / "cloud.toml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path, env={})
    assert "cloud.toml: " in str(err.value) and message in str(err.value)
