"""How long a PyAV stream lasts, read the same way by the client (probing inputs and downloads)
and the emulator (probing clips it is sent): the stream's own duration, else the container's,
else 0. A leaf: it imports nothing of wanbook, and PyAV only when called."""

from __future__ import annotations

from typing import Any

__all__ = ["stream_seconds"]


def stream_seconds(container: Any, stream: Any) -> float:
    """Seconds of ``stream`` of an open ``av`` ``container`` (0.0 when neither says)."""
    import av

    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration / av.time_base)
    return 0.0
