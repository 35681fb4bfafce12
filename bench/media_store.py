"""How long the team's video store takes per video (``WANBOOK_MEDIA``), against moto's S3 server
on 127.0.0.1: store (create-only put of the verified file, hashed again first), store again (a
teammate's second put: refused 412, then a HEAD checks the size), fetch into another home's cache
(streamed, hashed and checked), sign a link, and GET through that link.

    python bench/media_store.py [--repeat 5] [--no-record]

Videos: two the embedded emulator renders, and random bytes of the size of real Wan videos
(incompressible, 8 and 32 MB). moto runs in this process and shares its cores with the client,
so these are upper bounds for a quiet LAN store. The table is printed and appended to
``bench/RESULTS.md`` under "Team video store".
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import headline, record  # noqa: E402


def _median_ms(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000, statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    import httpx

    import wanbook as wb
    from wanbook._media.store import VideoStore, media_config

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    start = time.perf_counter()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    moto_start = time.perf_counter() - start
    url = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    httpx.put(f"{url}/bench")
    os.environ.update(
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="BENCHKEYID",
        AWS_SECRET_ACCESS_KEY="bench-secret-not-real",
        AWS_REGION="us-east-1",
    )
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            files: list[tuple[str, Path]] = []
            with wb.Session(home=Path(tmp) / "gen", quiet=True, emulator=True, media="") as s:
                for size in ("832*480", "1280*720"):
                    run = s.generate("a heron over a frozen lake", model="wan2.5-t2v-preview",
                                     size=size, duration=5, seed=1, prompt_extend=False)  # fmt: skip
                    files.append((f"emulator {size}, 5 s", Path(run.video_path)))
            for mb in (8, 32):
                path = Path(tmp) / f"random-{mb}.mp4"
                path.write_bytes(os.urandom(mb << 20))
                files.append((f"random bytes, {mb} MB", path))
            for n, (label, path) in enumerate(files):
                data = path.read_bytes()
                sha, size = hashlib.sha256(data).hexdigest(), len(data)
                cfg = media_config({**os.environ, "WANBOOK_MEDIA": f"s3://bench/run{n}"})
                assert cfg is not None
                store = VideoStore(cfg)
                first = time.perf_counter()
                uri = store.put_video(path, sha, size)
                put_first = (time.perf_counter() - first) * 1000
                again = _median_ms(lambda: store.put_video(path, sha, size), args.repeat)  # noqa: B023
                dest = Path(tmp) / "other-home" / f"{n}.mp4"
                fetch = _median_ms(
                    lambda: store.fetch(uri, dest, sha256=sha, size=size),  # noqa: B023
                    args.repeat,
                )
                sign = _median_ms(lambda: store.sign(uri), args.repeat)  # noqa: B023
                link = store.sign(uri)
                get = _median_ms(lambda: httpx.get(link).raise_for_status(), args.repeat)  # noqa: B023
                rows.append((label, size, put_first, again[1], fetch[1], sign[1], get[1]))
    finally:
        server.stop()
    load = os.getloadavg()[0]
    lines = [
        headline(
            f"moto imported and started in {moto_start:.2f} s; medians of {args.repeat} (the first store "
            f"once); load average {load:.2f} at the end"
        ),
        "",
        "| video | bytes | store (first) | store again (exists) | fetch, checked | sign | GET by link |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {label} | {size:,} | {p:.0f} ms | {a:.0f} ms | {f:.0f} ms | {sg:.2f} ms | {g:.0f} ms |"
            for label, size, p, a, f, sg, g in rows
        ],
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        record("## Team video store", text)


if __name__ == "__main__":
    main()
