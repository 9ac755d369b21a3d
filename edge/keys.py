"""Typed application state keys, declared in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from common.http.auth import LoginLimiter, TokenSigner

    from edge.members.routes import LookupNotices
    from edge.config import Settings
    from edge.devicehealth import DeviceRegistry
    from edge.hub import EventHub
    from edge.lockers.pickup import LockerService
    from edge.metrics import Metrics
    from edge.printing.coordinator import PrintCoordinator
    from edge.probes.footfall import ProbeService
    from edge.db.database import Database
    from edge.syncer.box import Box
    from edge.syncer.link import EdgeSync
    from edge.tables.guest import GuestLimits
    from edge.waitlist.guest import WaitlistLimits

SETTINGS: web.AppKey["Settings"] = web.AppKey("settings")
DB: web.AppKey["Database"] = web.AppKey("db")
HUB: web.AppKey["EventHub"] = web.AppKey("hub")
METRICS: web.AppKey["Metrics"] = web.AppKey("metrics")
TOKENS: web.AppKey["TokenSigner"] = web.AppKey("tokens")
LIMITER: web.AppKey["LoginLimiter"] = web.AppKey("limiter")
SYNC: web.AppKey["EdgeSync"] = web.AppKey("sync")  # only when a broker is configured
BOX: web.AppKey["Box"] = web.AppKey("box")  # this box's epoch; superseded? (edge/syncer/box.py)
MEMBER_LOOKUPS: web.AppKey["LookupNotices"] = web.AppKey("member_lookups")
PRINTING: web.AppKey["PrintCoordinator"] = web.AppKey("printing")  # only with printers
DEVICES: web.AppKey["DeviceRegistry"] = web.AppKey("devices")  # health of lockers and probes
LOCKERS: web.AppKey["LockerService"] = web.AppKey("lockers")  # only with [lockers.<bank>]
PROBES: web.AppKey["ProbeService"] = web.AppKey("probes")  # only with [probes.<zone>]
GUEST_LIMITS: web.AppKey["GuestLimits"] = web.AppKey("guest_limits")  # edge/tables/guest.py
GUEST_PAGE: web.AppKey[tuple[bytes, bytes]] = web.AppKey("guest_page")  # (page, its gzip)
WAITLIST_LIMITS: web.AppKey["WaitlistLimits"] = web.AppKey("waitlist_limits")  # edge/waitlist
