"""The gateway: live traffic between a legacy service and its port.

Shifting (issue 31): ``identity`` (who a caller is, stably), ``policy`` (which side serves a
caller on a route), ``breaker`` (a per-route circuit breaker), ``fallback`` (when the legacy
may answer for a failed port), ``schedule`` (promotion and rollback on evidence) and
``state`` (the runtime route table, persisted, every change logged).
"""
