"""Campaigns at HQ (ARCHITECTURE §4f): tracked links and QR codes, visits recorded anonymously
until the visitor becomes a known member, last-touch attribution of orders in any channel and
store, and the report with cost and ROI. docs/campaigns.md is the manual."""
