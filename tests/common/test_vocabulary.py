"""The shared vocabulary is declared once and consistently."""

from __future__ import annotations

from common.schemas import PROFILE
from common.vocabulary import ACCOUNTS, ENTRY_KINDS, PROFILE_FIELDS


def test_every_profile_field_has_its_schema_in_the_same_order() -> None:
    assert tuple(PROFILE) == PROFILE_FIELDS


def test_each_account_has_its_entry_kinds() -> None:
    assert ACCOUNTS == tuple(ENTRY_KINDS) and all(ENTRY_KINDS[a] for a in ACCOUNTS)
