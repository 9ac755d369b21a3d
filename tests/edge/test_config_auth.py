"""Settings validation, PIN hashing, signed tokens and the login limiter."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.http import auth
from common.http.auth import LoginLimiter, TokenSigner
from common.passwords import hash_pin, verify_pin
from edge.config import ConfigError, load_settings
from edge.admin import init_store


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    init_store(tmp_path / "s", "shop-1", "acme")
    return tmp_path / "s"


def test_defaults_and_environment_override(data_dir: Path) -> None:
    settings = load_settings(data_dir, env={})
    assert (settings.store_id, settings.tenant, settings.port) == ("shop-1", "acme", 8080)
    assert str(settings.timezone) == "Asia/Shanghai"
    assert load_settings(data_dir, env={"STORENODE_HTTP_PORT": "9001"}).port == 9001
    assert settings.linger_ms == 100  # a short batch waits up to 100 ms for an ack in flight
    assert load_settings(data_dir, env={"STORENODE_SYNC_LINGER_MS": "0"}).linger_ms == 0


def test_a_file_without_linger_ms_lingers_100_ms(data_dir: Path) -> None:
    """An edge.toml written before sync.linger_ms existed gets the default too."""
    (data_dir / "edge.toml").write_text('[store]\nid = "shop-1"\n[sync]\nwindow = 8\n')
    assert load_settings(data_dir, env={}).linger_ms == 100


@pytest.mark.parametrize("text,message", [
    ("[store\nid=", "not valid TOML"),
    ('[store]\nid = "shop-1"\n[http]\nport = "eighty"\n', "http.port must be an integer"),
    ('[store]\nid = "shop-1"\n[http]\nport = 70000\n', "http.port must be between"),
    ('[store]\nid = "shop-1"\ntimezone = "Mars/Olympus"\n', "unknown zone"),
    ('[store]\nid = "Bad Id!"\n', "store.id must match"),
    ('[store]\nid = "shop-1"\n[printer]\n', "unknown section"),
    ('[store]\nid = "shop-1"\n[printers.k]\ntype = "laser"\n', "printers.k.type"),
    ('[store]\nid = "shop-1"\n[print]\nfailover_after = 0\n', "print.failover_after"),
    ('[store]\nid = "shop-1"\n[http]\nprot = 1\n', "unknown key"),
    ('[store]\nid = "shop-1"\n[sync]\nlinger_ms = 5000\n', "sync.linger_ms must be between"),
    ("[http]\nport = 1\n", "store.id is required"),
])
def test_bad_config_names_file_and_key(data_dir: Path, text: str, message: str) -> None:
    (data_dir / "edge.toml").write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_settings(data_dir, env={})
    assert "edge.toml" in str(err.value)


def test_bad_environment_value(data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="STORENODE_HTTP_PORT"):
        load_settings(data_dir, env={"STORENODE_HTTP_PORT": "x"})


def test_missing_store_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="storenode init"):
        load_settings(tmp_path, env={})


def test_init_refuses_to_overwrite(data_dir: Path) -> None:
    with pytest.raises(FileExistsError):
        init_store(data_dir, "shop-2")


def test_pin_hash_is_salted_scrypt() -> None:
    first, second = hash_pin("4821"), hash_pin("4821")
    assert first != second and first.startswith("scrypt$") and "4821" not in first
    assert verify_pin("4821", first) and not verify_pin("4822", first)
    assert not verify_pin("4821", "garbage")


def test_tokens_are_signed_and_expire() -> None:
    now = [1000.0]
    signer = TokenSigner(b"k" * 32, ttl_s=60, clock=lambda: now[0])
    token = signer.issue("ana", "cashier")
    who = signer.verify(token)
    assert who is not None and (who.staff, who.role) == ("ana", "cashier")
    body, _, sig = token.partition(".")
    forged = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + sig
    assert signer.verify(forged) is None
    assert TokenSigner(b"x" * 32, 60, clock=lambda: now[0]).verify(token) is None
    assert signer.verify("not-a-token") is None
    now[0] += 61
    assert signer.verify(token) is None


def test_verified_tokens_are_remembered_until_they_expire() -> None:
    now = [1000.0]
    signer = TokenSigner(b"k" * 32, ttl_s=60, clock=lambda: now[0])
    token = signer.issue("ana", "cashier")
    assert signer.verify(token) is signer.verify(token)  # the second answer is remembered
    now[0] += 60
    assert signer.verify(token) is not None  # valid up to its expiry second
    now[0] += 1
    assert signer.verify(token) is None
    assert signer.verify(token + "x") is None and token + "x" not in signer._verified
    others = [signer.issue(f"s{n}", "cashier") for n in range(auth.VERIFIED_MAX + 5)]
    assert all(signer.verify(t) is not None for t in others)
    assert len(signer._verified) <= auth.VERIFIED_MAX


def test_limiter_locks_out_after_failures_then_releases() -> None:
    now = [0.0]
    limiter = LoginLimiter(3, 60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after("staff:a", "ip:1") == 0
        limiter.failed("staff:a", "ip:1")
    assert limiter.retry_after("staff:a") > 0
    assert limiter.retry_after("staff:b", "ip:1") > 0  # same address, other id
    now[0] += 61
    assert limiter.retry_after("staff:a", "ip:1") == 0
