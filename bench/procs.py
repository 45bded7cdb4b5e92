"""The benchmarks' processes: `hedged sim` and the daemon, each its own process on 127.0.0.1.

`SimProcess` runs `hedged --config sim.toml sim` (the simulators' feed and flow settings come from the
`[sim]` table the bench writes), waits for the `sim-venues.toml` fragment and `sim.env` credentials it
writes, and reads the stamps over each simulator's `/_sim` control surface. `DaemonProcess` runs the
daemon (`hedged --config`) in testnet mode on that fragment, with its own state dir, an ephemeral metrics port, and optionally a NOTIFY_SOCKET the bench owns.
CPU and RSS are read from /proc/<pid>: the kernel's accounting of the daemon process alone.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HEDGED = str(Path(PYTHON).parent / "hedged")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def mono() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def pinned(cpus: frozenset[int] | None):
    """A Popen preexec_fn that keeps the child (and its threads) on `cpus`; None when not pinned."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def split_cpus() -> tuple[frozenset[int], frozenset[int]] | None:
    """(daemon's CPUs, simulators' CPUs): the last CPU for `hedged sim`, the rest for the daemon; None on
    one CPU. In production the venues are other machines: pinned, the simulators stop taking the daemon's
    core at the moment a fill makes both busy (the one is sending what the other must answer)."""
    mine = sorted(os.sched_getaffinity(0))
    if len(mine) < 2:
        return None
    return frozenset(mine[:-1]), frozenset(mine[-1:])


def cpu_times() -> dict[str, int]:
    """The machine's /proc/stat CPU counters (clock ticks): to report steal (the hypervisor's share)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return dict(zip(("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"), v))


def steal_pct(before: dict[str, int], after: dict[str, int]) -> float:
    """Steal as % of all CPU time that passed between two `cpu_times()`."""
    total = sum(after.values()) - sum(before.values())
    return 100 * (after["steal"] - before["steal"]) / total if total else 0.0


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(str(v))  # a TOML basic string is a JSON string for these values


def toml_tables(tables: dict[str, dict[str, Any]]) -> str:
    out = []
    for name, values in tables.items():
        out.append(f"[{name}]")
        out += [f"{k} = {toml_value(v)}" for k, v in values.items()]
        out.append("")
    return "\n".join(out)


def merge_fragment(tables: dict[str, dict[str, Any]], fragment: str) -> dict[str, dict[str, Any]]:
    """The bench's tables with `hedged sim`'s [venues.*] fragment merged in (TOML allows a table once)."""
    out = {k: dict(v) for k, v in tables.items()}
    for name, values in tomllib.loads(fragment).get("venues", {}).items():
        out.setdefault(f"venues.{name}", {}).update(values)
    return out


def http_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - 127.0.0.1 only
        return json.loads(r.read())


def wait_for(pred, timeout: float, what: str, every: float = 0.02) -> Any:
    """Poll `pred` from outside the processes (a bench has no event to wait on in another process)."""
    deadline = mono() + timeout
    while mono() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class SimProcess:
    workdir: Path
    sim: dict[str, Any]
    hedge_keys: tuple[int, ...] = ()  # venues.lighter.hedge_api_keys: the sim registers them, the fragment names them
    cpus: frozenset[int] | None = None  # run on these CPUs only (sched_setaffinity); None = wherever
    proc: subprocess.Popen | None = None
    ext_control: str = ""
    lig_control: str = ""
    fragment: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> SimProcess:
        state = self.workdir / "sim-state"
        for name in ("sim-venues.toml", "sim.env"):
            (state / name).unlink(missing_ok=True)
        cfg = self.workdir / "sim.toml"
        pool = {"venues.lighter": {"hedge_api_keys": list(self.hedge_keys)}} if self.hedge_keys else {}
        cfg.write_text(toml_tables({"daemon": {"state_dir": str(state)}, "log": {"format": "text", "level": "WARNING"},
                                    **pool, "sim": self.sim}))
        log = (self.workdir / "sim.log").open("w")
        self.proc = subprocess.Popen([HEDGED, "--config", str(cfg), "sim"], stdout=log, stderr=subprocess.STDOUT,
                                     cwd=self.workdir, preexec_fn=pinned(self.cpus))
        frag = state / "sim-venues.toml"
        def written() -> bool:
            if self.proc.poll() is not None:
                tail = (self.workdir / "sim.log").read_text(errors="replace").strip().splitlines()[-3:]
                raise RuntimeError(f"hedged sim exited with {self.proc.returncode}: {' / '.join(tail)}")
            return frag.exists() and "api_key_index" in frag.read_text()

        try:  # the fragment is written after sim.env; its last table is [venues.lighter]
            wait_for(written, 30, "hedged sim to write sim-venues.toml")
        except BaseException:
            self.stop()
            raise
        self.fragment = frag.read_text()
        for line in (state / "sim.env").read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                self.env[k] = v
        urls = [ln.split('"')[1] for ln in self.fragment.splitlines() if ln.startswith("rest_url")]
        self.ext_control = urls[0].rsplit("/api/v1", 1)[0] + "/_sim"
        self.lig_control = urls[1] + "/_sim"
        return self

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        return http_json(self.ext_control + "/stamps/counts"), http_json(self.lig_control + "/stamps/counts")

    def stamps(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return http_json(self.ext_control + "/stamps", 60), http_json(self.lig_control + "/stamps", 60)

    def truth(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return http_json(self.ext_control + "/truth"), http_json(self.lig_control + "/truth")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


DAEMON_DEFAULTS: dict[str, dict[str, Any]] = {
    "log": {"format": "text", "level": "INFO"},
    "metrics": {"port": 0},
    # Short cycles, so a run of a minute or two gives >= 1,000 maker fills; the hedge settings are
    # the shipped defaults (that is what is measured).
    "cycle": { "delay_min_s": 0.1, "delay_max_s": 0.3,
              "hold_min_s": 0.2, "hold_max_s": 0.5},
    # The client-side sendTx budget of the standard tier (60/min, UNCONFIRMED, issue 12 point 11) would
    # cap a compressed run at one hedge a second and measure only the limiter; the premium tier's
    # budget does not bind. The venue's 300 ms taker hold is still the standard account's (sim side).
    "venues.lighter": {"tier": "premium"},
}


@dataclass
class DaemonProcess:
    workdir: Path
    sim: SimProcess
    state_dir: Path
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    notify: bool = False
    cpus: frozenset[int] | None = None  # as SimProcess.cpus
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    ready_at: float | None = None
    _sock: socket.socket | None = None
    log_path: Path | None = None

    def start(self) -> DaemonProcess:
        tables = {k: dict(v) for k, v in DAEMON_DEFAULTS.items()}
        for k, v in self.overrides.items():
            tables.setdefault(k, {}).update(v)
        tables.setdefault("daemon", {})["state_dir"] = str(self.state_dir)
        cfg = self.workdir / "daemon.toml"
        cfg.write_text(toml_tables(merge_fragment(tables, self.sim.fragment)))
        env = dict(os.environ, **self.sim.env)
        env.pop("NOTIFY_SOCKET", None)
        if self.notify:
            path = self.workdir / "notify.sock"
            path.unlink(missing_ok=True)
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.bind(str(path))
            self._sock.setblocking(False)
            env["NOTIFY_SOCKET"] = str(path)
        self.log_path = self.workdir / "daemon.log"
        log = self.log_path.open("a")
        self.started_at = mono()
        self.proc = subprocess.Popen([HEDGED, "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT, env=env,
                                     cwd=self.workdir, preexec_fn=pinned(self.cpus))
        return self

    def notifications(self) -> list[str]:
        out = []
        while self._sock is not None:
            try:
                data = self._sock.recv(4096)
            except BlockingIOError:
                break
            out += data.decode().splitlines()
            if self.ready_at is None and "READY=1" in out:
                self.ready_at = mono()
        return out

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds from exec to READY=1 on the bench's notify socket."""
        assert self._sock is not None
        self._sock.setblocking(True)
        self._sock.settimeout(timeout)
        while self.ready_at is None:
            if b"READY=1" in self._sock.recv(4096).split(b"\n"):
                self.ready_at = mono()
        self._sock.setblocking(False)
        return self.ready_at - self.started_at

    def cpu_s(self) -> float:
        fields = (Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1]).split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def terminate(self, timeout: float = 30) -> tuple[float, int]:
        """SIGTERM; (seconds until the process exited, exit code)."""
        t0 = mono()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        dt = mono() - t0
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        return dt, code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
