"""Typed application state keys of the HQ app, declared in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from cloud.api.metrics import Metrics
    from cloud.config import Settings
    from cloud.db.runner import DbRunner
    from cloud.jobs.scheduler import Analytics
    from cloud.platforms.callbacks import CallbackSender
    from cloud.sync.link import CloudLink
    from common.http.auth import LoginLimiter, TokenSigner

SETTINGS: web.AppKey["Settings"] = web.AppKey("settings")
DB: web.AppKey["DbRunner"] = web.AppKey("db")
LINK: web.AppKey["CloudLink | None"] = web.AppKey("link")  # None: no broker configured
METRICS: web.AppKey["Metrics"] = web.AppKey("metrics")
TOKENS: web.AppKey["TokenSigner"] = web.AppKey("tokens")
LIMITER: web.AppKey["LoginLimiter"] = web.AppKey("limiter")
ANALYTICS: web.AppKey["Analytics"] = web.AppKey("analytics")  # jobs, own connection
CALLBACKS: web.AppKey["CallbackSender | None"] = web.AppKey("callbacks")  # platform callbacks
