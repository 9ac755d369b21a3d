"""What every ``storenode-cloud`` command shares: the common options, the errors an operator
can cause, and how results and failures are printed (JSON on stdout, one line on stderr)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from cloud.config import ConfigError
from cloud.db.runner import UNAVAILABLE
from cloud.errors import CloudError

DATA_DIR = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path),
    envvar="STORENODE_CLOUD_DATA_DIR", required=True,
    help="HQ data directory (or STORENODE_CLOUD_DATA_DIR).",
)
DATABASE = click.option("--database", default=None,
                        help="sqlite:///ABS/PATH.db or postgresql://… (default from cloud.toml).")
BROKER = click.option("--broker", default=None,
                      help="mqtt[s]://HOST:PORT (default from cloud.toml; empty: no MQTT).")
# what a command may fail with and still be an operator's mistake, not a crash
EXPECTED: tuple[type[Exception], ...] = (ConfigError, CloudError, FileExistsError, ValueError, OSError, *UNAVAILABLE)


def out(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def fail_with(exc: Exception) -> NoReturn:
    fail(f"{type(exc).__name__}: {exc}" if isinstance(exc, CloudError) else str(exc))
