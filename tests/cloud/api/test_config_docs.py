"""HQ settings: defaults, environment overrides, validation messages naming file and key; every
setting documented in the manual and present in config/cloud.toml; the systemd unit."""

from __future__ import annotations

import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from cloud.config import SCHEMA, ConfigError, ensure_data_dir, load_settings
from tests.helpers import ROOT, manual

UNIT = ROOT / "systemd" / "storenode-cloud.service"


def test_every_setting_is_documented_and_in_the_example() -> None:
    readme = manual()  # the HQ configuration reference, or its capability's page
    example = tomllib.loads((ROOT / "config" / "cloud.toml").read_text())
    for section, keys in SCHEMA.items():
        for key in keys:
            assert f"`{section}.{key}`" in readme, f"{section}.{key} missing from the manual"
            assert key in example.get(section, {}), f"{section}.{key} missing from cloud.toml"
            env = f"STORENODE_CLOUD_{section}_{key}".upper()
            assert env in readme or "STORENODE_CLOUD_<SECTION>_<KEY>" in readme


def test_defaults_on_a_bare_data_dir(tmp_path: Path) -> None:
    ensure_data_dir(tmp_path)
    settings = load_settings(tmp_path, env={})
    assert settings.database == f"sqlite:///{tmp_path / 'cloud.db'}"
    assert (settings.port, settings.broker, settings.broker_username) == (8090, "", "cloud")
    assert len(settings.broker_password) >= 32 and len(settings.secret) >= 32
    for name in ("secret.key", "broker.password"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    ensure_data_dir(tmp_path)  # never replaces the secrets
    assert load_settings(tmp_path, env={}).secret == settings.secret


def test_environment_and_flags_override_the_file(tmp_path: Path) -> None:
    ensure_data_dir(tmp_path)
    (tmp_path / "cloud.toml").write_text('[http]\nport = 9000\n[broker]\nurl = "mqtt://a:1"\n')
    env = {"STORENODE_CLOUD_HTTP_PORT": "9001", "STORENODE_CLOUD_BROKER_PASSWORD": "pw",
           "STORENODE_CLOUD_DB_URL": "postgresql://u@h/db"}
    settings = load_settings(tmp_path, env=env)
    assert (settings.port, settings.broker, settings.broker_password) == (9001, "mqtt://a:1", "pw")
    assert settings.database == "postgresql://u@h/db"
    assert load_settings(tmp_path, env=env, overrides={"http.port": 9002}).port == 9002


@pytest.mark.parametrize("text, env, message", [
    ("[http]\nport = 'x'\n", {}, "cloud.toml: http.port must be an integer"),
    ("[http]\nport = 70000\n", {}, "cloud.toml: http.port must be between"),
    ("[http]\nportt = 1\n", {}, "cloud.toml: [http] has unknown key(s) ['portt']"),
    ("[nope]\n", {}, "cloud.toml: unknown section(s) ['nope']"),
    ("[db]\nurl = 'mysql://x'\n", {}, "cloud.toml: db.url must be"),
    ("[broker]\nurl = 'http://x'\n", {}, "cloud.toml: broker.url"),
    ("[broker]\nkeepalive = 1\n", {}, "broker.keepalive must be between 5 and 120"),
    ("[auth\n", {}, "cloud.toml: not valid TOML"),
    ("", {"STORENODE_CLOUD_HTTP_PORT": "eighty"}, "environment STORENODE_CLOUD_HTTP_PORT"),
    ("[scheduler]\nwinback = '5 25 * * *'\n", {}, "cloud.toml: scheduler.winback: "),
    ("[scheduler]\nrfm = 'daily'\n", {}, "cloud.toml: scheduler.rfm: 'daily': a 5-field"),
    ("[scheduler]\nlease_ttl_s = 1\n", {}, "scheduler.lease_ttl_s must be between 5 and"),
    ("[automation]\nwinback_lapsed_days = 0\n", {},
     "cloud.toml: automation.winback_lapsed_days: an integer from 1 to 3650"),
    ("[automation]\nbirthday_template = 'a b'\n", {}, "automation.birthday_template"),
    ("[automation]\nviewed_not_bought_window_h = 48\nviewed_not_bought_lookback_days = 1\n",
     {}, "automation.viewed_not_bought_lookback_days: must be longer than window_h"),
])
def test_bad_settings_name_the_file_and_key(tmp_path: Path, text: str, env: dict[str, str],
                                            message: str) -> None:
    ensure_data_dir(tmp_path)
    (tmp_path / "cloud.toml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path, env=env)
    assert message in str(err.value)


def test_job_settings_from_the_file_and_the_environment(tmp_path: Path) -> None:
    ensure_data_dir(tmp_path)
    assert load_settings(tmp_path, env={}).jobs["winback"] == {
        "schedule": "5 2 * * *", "template": "auto-winback", "lapsed_days": 60}
    (tmp_path / "cloud.toml").write_text(
        '[scheduler]\nwinback = "every 6h"\nrfm = "off"\nlease_ttl_s = 30\n'
        '[automation]\nwinback_lapsed_days = 45\nbirthday_template = ""\n')
    settings = load_settings(tmp_path, env={"STORENODE_CLOUD_AUTOMATION_WINBACK_TEMPLATE":
                                            "come-back"})
    assert settings.jobs["winback"] == {"schedule": "every 6h", "template": "come-back",
                                        "lapsed_days": 45}
    assert settings.jobs["rfm"] == {"schedule": "off"}
    assert settings.jobs["birthday"]["template"] == ""
    assert settings.scheduler_lease_ttl_s == 30


def test_missing_secret_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="secret.key"):
        load_settings(tmp_path, env={})


def test_unit_declares_notify_watchdog_and_hardening() -> None:
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=always", "User=storenode-cloud",
                 "StateDirectory=storenode-cloud", "ProtectSystem=strict", "NoNewPrivileges=yes",
                 "storenode-cloud run --data-dir ${STATE_DIRECTORY}"):
        assert line in text, line


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = tmp_path / "storenode-cloud.service"
    exe = shutil.which("true")
    unit.write_text(UNIT.read_text().replace("/opt/storenode/.venv/bin/storenode-cloud", str(exe)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)],
                            capture_output=True, text=True, timeout=60)
    problems = [line for line in result.stderr.splitlines()
                if "storenode-cloud.service" in line and "Documentation" not in line
                and "Failed to resolve unit" not in line]
    assert not problems, result.stderr
