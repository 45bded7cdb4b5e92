"""A first guess at which open issue a failing seed's trace points to (printed as a hint, never a verdict).

The rules match the log events the daemon writes on the paths the open issues describe; a seed in
`tests/dst/known_failures.txt` carries the guess that was checked by reading its trace.
"""

from __future__ import annotations

RULES: tuple[tuple[str, str], ...] = (
    ("lighter_ws_auth_error", "issue 12: a refused auth token halts (point 9), but hedge fills made while the stream was refused never reach the journal"),
    ("fill_after_reconcile_close", "issue 11: the periodic reconcile closed an order that then filled (point 1)"),
    ("kind=conflicting_terminal", "issue 11: the periodic reconcile closed an order that then filled (point 1)"),
    ("kind=cumulative_regressed", "issue 11: a fill during the reconcile's REST round trip undone as drift (point 2)"),
    ("reason=drift", "issue 11: a fill during the reconcile's REST round trip undone as drift (point 2)"),
    ("warm_restart_drift", "issue 11: a restart books venue fills as adjustments, or hedges twice (points 3, 9)"),
    ("client has been closed", "issue 12: a venue service cannot be restarted (point 5)"),
    ("graceful_stop_deadline_exceeded", "issue 12: the graceful stop abandons an open hedge (point 3)"),
)


def hint(trace: str, first_violation_at: float) -> str:
    """The first rule whose event appears in the trace up to the first violation."""
    upto = []
    for line in trace.splitlines():
        try:
            t = float(line[:10])
        except ValueError:
            continue
        if t > first_violation_at:
            break
        upto.append(line)
    text = "\n".join(upto)
    for needle, why in RULES:
        if needle in text:
            return why
    if "kind=freeze" in text or "(freeze," in text:
        return "issue 11: a frozen (silent, open) stream hides a fill that no re-sync recovers"
    if STARVED_RESYNC[0] in text and STARVED_RESYNC[1] in text:
        return STARVED_RESYNC_WHY
    return "undiagnosed"


# Seed 49 (read): the Lighter socket drops; the re-sync that must finish before any tx goes out asks
# for REST in the budget's non-priority share, which hedges and periodic reads have spent, so the session
# setup times out (twice), every hedge attempt ends "nothing sent" and the failure path waits on it too.
STARVED_RESYNC = ("session setup timed out", "stream not subscribed and re-synced; nothing sent")
STARVED_RESYNC_WHY = ("issue 12: the Lighter re-sync that gates every hedge waits in the REST budget's "
                      "non-priority share, spent by hedges and periodic reads (point 11)")
