"""Which process wrote a row, and whether it has surely ended.

Rows that a live process is responsible for (the account's slots and budget reservations, the
runs a session follows) name their owner: its pid, its host and when it started. Another process
may take over such a row only once its owner is gone. Only a process of this very machine can be
checked (its pid no longer runs, or now belongs to a process started later); a process of another
machine is never "surely" gone, and its rows are taken over only when they go stale (what counts
as stale is the caller's rule).

This module is a leaf: it imports nothing else of wanbook.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

__all__ = ["Owner"]


def _proc_start(pid: int) -> str:
    """When process ``pid`` started (Linux: clock ticks since boot), so a reused pid is not taken
    for the one that owned a row; "" where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _this_host() -> str:
    """This machine's name in shared rows: its host name and, where Linux tells it, its
    boot's id, so two machines both called ``jupyter`` (or one rebooted) never check each
    other's pids."""
    name = socket.gethostname()
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip().replace("-", "")[:12]
    except OSError:
        return name
    return f"{name}#{boot}" if boot else name


@dataclass(frozen=True)
class Owner:
    """A process that owns rows (slots, reservations, followed runs): its pid, its host (with
    the boot's id, see :func:`_this_host`) and its start time."""

    pid: int
    host: str
    started: str

    @classmethod
    def me(cls) -> Owner:
        pid = os.getpid()
        return cls(pid, _this_host(), _proc_start(pid))

    def gone(self, pid: int, host: str, started: str) -> bool:
        """True if the process ``pid`` of ``host`` (started at ``started``) has surely ended: only
        a process of this host can be checked; another host's is never "surely" gone."""
        if host != self.host:
            return False
        if pid == self.pid:
            return started != self.started
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # exists, owned by someone else
            pass
        now = _proc_start(pid)
        return bool(started and now and now != started)
