"""The HQ member, coupon and loyalty rows of the route table (docs/members.md)."""

from __future__ import annotations

from common.http.routes import Route

from . import members as m
from .member_schemas import (
                             CAMPAIGN,
                             EXPIRE,
                             IDEMPOTENCY,
                             ISSUE,
                             LEDGER_POST,
                             LOYALTY_RULES,
                             MEMBERS_QUERY,
                             STORE_RULE,
                             TEMPLATE,
)

MEMBER_ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/members", m.find_members,
          "Members by ?phone_hash= (HMAC of the phone with the tenant key) or ?id=",
          query=MEMBERS_QUERY, errors=(400,)),
    Route("GET", "/api/v1/members/{member}", m.get_member,
          "A member (the survivor of a merged id): balances, identities (hashes, last 4), "
          "merge history, ledger, the leases that still count and their history (grants, "
          "amendments, acks, settlements), coupons", errors=(404,)),
    Route("POST", "/api/v1/members/{member}/ledger", m.post_ledger,
          "An HQ ledger entry (points earn/adjust, value topup/refund/adjust), sent to every "
          "store; idempotent by Idempotency-Key (200 on replay) (hq_admin)", body=LEDGER_POST,
          headers=IDEMPOTENCY, ok=201, errors=(400, 404, 409, 422)),
    Route("POST", "/api/v1/members/expire", m.expire_points,
          "Expire points earned more than `months` ago and not used (FIFO); a second run "
          "expires nothing more (hq_admin)", body=EXPIRE, errors=(400, 422)),
    Route("PUT", "/api/v1/coupons/templates/{template_id}", m.put_template,
          "Create or replace a coupon template; sent to its stores (all when none) (hq_admin)",
          body=TEMPLATE, errors=(400, 404, 422)),
    Route("POST", "/api/v1/coupons/issue", m.issue_coupons,
          "Issue coupons of a template to members and/or as bare codes, sent as coupon.issued "
          "to the stores in scope; optional Idempotency-Key (hq_admin)", body=ISSUE,
          headers=IDEMPOTENCY, ok=201, errors=(400, 404, 422)),
    Route("PUT", "/api/v1/campaigns/cross-store/{rule_id}", m.put_campaign,
          "A cross-store campaign: an order >= min_total_cents at from_store issues a coupon "
          "of template_id usable at to_store, once per order (hq_admin)", body=CAMPAIGN,
          errors=(400, 404, 422)),
    Route("GET", "/api/v1/promotions/clashes", m.clashes,
          "Templates of one exclusive_group on a common channel with overlapping windows"),
    Route("GET", "/api/v1/loyalty/rules", m.get_loyalty_rules,
          "The earning rules: points per yuan by default, per channel, and per store (its own "
          "rate per channel, a multiplier of the others); null before any are set"),
    Route("PUT", "/api/v1/loyalty/rules", m.put_loyalty_rules,
          "Replace the earning rules; each store is sent loyalty.rules with the tenant-wide "
          "rates and its own entry (hq_admin)", body=LOYALTY_RULES, errors=(400, 404, 422)),
    Route("PUT", "/api/v1/loyalty/rules/stores/{store}", m.put_store_loyalty_rule,
          "Set one store's rules {multiplier?, channels?}; only that store is sent new rules "
          "(hq_admin)", body=STORE_RULE, errors=(400, 404, 422)),
    Route("DELETE", "/api/v1/loyalty/rules/stores/{store}", m.delete_store_loyalty_rule,
          "Remove one store's rules: it earns at the tenant-wide rates (hq_admin)",
          errors=(404,)),
)
