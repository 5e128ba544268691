"""Per-queue recording policy: whether a queue's calls are recorded (following the site,
always, never), whether the caller hears a consent announcement first (and which
uploaded prompt says it), and how many days its recordings are kept.

`model.effective` is the pure rule; `service` stores the policy (admins write,
supervisors read, audited) and answers the orchestrator at bridge time and the
retention sweep; `api` is the HTTP translation (``/api/v1/voice/queues/{id}/recording``).
"""
