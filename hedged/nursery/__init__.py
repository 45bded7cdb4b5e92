"""Supervision: the root nursery, restart policies, signals and systemd notification."""

from hedged.nursery.sdnotify import Notifier
from hedged.nursery.supervisor import CRITICAL, RestartPolicy, Service, Supervisor

__all__ = ["CRITICAL", "Notifier", "RestartPolicy", "Service", "Supervisor", "watch_signals"]


async def watch_signals(supervisor: Supervisor, *, task_status=None) -> None:
    """SIGTERM/SIGINT: first one starts a graceful stop, a second stops at once."""
    import signal

    import trio

    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        if task_status is not None:
            task_status.started()
        async for signum in signals:
            supervisor.request_stop(signal.Signals(signum).name)
