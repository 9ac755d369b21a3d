"""Feedback after the visit at HQ: ratings from the stores and from guests on mobile data,
recovery coupons, the stores' alerts and the NPS report."""
