"""HQ analytics (docs/members.md, "Segments, automation, recommendations"): RFM segments,
idempotent automation triggers and "often bought together" pairs. The rules live here as
data; their SQL is ``cloud/analytics/sql.py``; ``scheduler.py`` runs them on a timer."""
