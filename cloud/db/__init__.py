"""The cloud's storage: ``CloudDb`` over SQLite or PostgreSQL. All cloud SQL lives here."""

from cloud.errors import StoreExists, UnknownStore, UserExists

from .database import SNAPSHOT_AFTER, CloudDb
from .results import Ack, Feed, StateResult

__all__ = ["SNAPSHOT_AFTER", "Ack", "CloudDb", "Feed", "StateResult", "StoreExists",
           "UnknownStore", "UserExists"]
