"""Fixtures of the HQ price-rule tests: the HQ API on both backends (tests/cloud/api), and
the shop clock of the edge price-rule tests."""

from tests.cloud.api.conftest import admin, analyst, db_url, hq, hq_dir  # noqa: F401
from tests.edge.pricing.conftest import shop_clock  # noqa: F401
