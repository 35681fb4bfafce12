"""Videos on object storage: a team's verified videos, kept by content and shared by machines.

``WANBOOK_MEDIA=s3://bucket/prefix`` (an S3-compatible store: AWS, Alibaba OSS, MinIO, R2) or
``file:///shared/folder`` (a folder every machine mounts). Unset, videos stay where they always
were, under ``WANBOOK_HOME/videos``, and nothing here is used.

* **Keys are content.** A verified video goes to ``<prefix>/videos/<sha256[:2]>/<sha256>.mp4``
  with a create-only put (``mode="create"``: S3's ``If-None-Match: *``). Two teammates storing
  the same video make one object, and nobody ever overwrites anybody: an object already under the
  key *is* that video (same hash, same key), so "already exists" is success once its size agrees.
* **Fetched copies are checked.** :meth:`VideoStore.fetch` streams an object into a temporary
  file beside the destination, hashing it; a copy whose size or SHA-256 differs from the run
  log's is deleted and refused, so a tampered or damaged object is never shown.
* **Configured by the standard variables**, read and checked by :func:`media_config` before
  anything is sent: ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``), ``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``),
  ``AWS_VIRTUAL_HOSTED_STYLE_REQUEST`` (``true`` for Alibaba OSS, which refuses path-style
  requests). An ``http://`` endpoint is allowed only when the endpoint itself says ``http``.
  The secret key and token are held as :class:`~wanbook._secret.Secret` and never appear in a
  repr, an error or a log line.

Why obstore and not fsspec/s3fs (measured on this project's machines, 2026-12): obstore is one
15 MB wheel (plus typing-extensions) that imports in 4 ms and has S3, OSS, GCS, Azure and local
folders built in; s3fs is 52 MB in 20 distributions and imports in 219 ms, and another package
per backend. Above all obstore has the two primitives this needs as first-class calls: a
create-only put (``mode="create"``, answered ``AlreadyExistsError``) and presigned URLs
(``obstore.sign``). It is an optional dependency (``pip install 'wanbook[team]'``), imported only
when a store is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from wanbook._errors import ConfigError, DownloadError, StorageError
from wanbook._media.videos import make_folder_for
from wanbook._secret import Secret

__all__ = [
    "INSTALL_HINT",
    "MediaConfig",
    "StorageWarning",
    "VideoStore",
    "media_config",
    "video_key",
]

INSTALL_HINT = "pip install 'wanbook[team]'"
MEDIA_VAR = "WANBOOK_MEDIA"
#: How long a presigned link to a video lives unless asked otherwise.
SIGN_DEFAULT = timedelta(hours=1)
#: Every request to the store: connect within 5 s, finish within 5 min (a large video on a slow
#: uplink), at most 2 retries of what obstore retries (5xx, connection errors) within 30 s.
_CLIENT = {"connect_timeout": "5s", "timeout": "300s"}
_RETRY_MAX, _RETRY_WITHIN = 2, timedelta(seconds=30)

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


class StorageWarning(UserWarning):
    """A video could not be put in the team's store; it is kept on this machine and uploaded
    later (``resume``). Nothing paid is lost."""


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class MediaConfig:
    """Where a team keeps its videos, read from the environment and checked (see
    :func:`media_config`). The secret key and token are :class:`Secret`: never shown."""

    url: str  #: WANBOOK_MEDIA, normalized: ``s3://bucket/prefix`` or ``file:///folder``
    scheme: str  #: "s3" or "file"
    bucket: str | None = None
    prefix: str = ""  #: without slashes at either end; "" for the bucket's top
    root: Path | None = None  #: the folder of a ``file://`` store
    endpoint: str | None = None  #: the S3 endpoint as given (None: AWS's, from the region)
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: Secret | None = field(default=None, repr=False)
    session_token: Secret | None = field(default=None, repr=False)
    virtual_hosted: bool = False

    def secrets(self) -> list[str]:
        """The secret values, for scrubbing lower-level messages (never for showing)."""
        return [s.reveal() for s in (self.secret_access_key, self.session_token) if s]

    def s3_options(self, bucket: str) -> dict[str, Any]:
        """The keyword arguments of obstore's ``S3Store`` for ``bucket`` (pure: tested as is).

        With virtual-hosted addressing the bucket is a part of the host name
        (``https://bucket.s3.oss-cn-hangzhou.aliyuncs.com``); obstore expects a custom endpoint
        to say so itself, so the bucket is put in front of the endpoint's host here."""
        options: dict[str, Any] = {
            "region": self.region,
            "virtual_hosted_style_request": self.virtual_hosted,
        }
        if self.endpoint is not None:
            endpoint = self.endpoint
            if self.virtual_hosted:
                parts = urlsplit(endpoint)
                host = parts.netloc
                if not host.startswith(f"{bucket}."):
                    endpoint = f"{parts.scheme}://{bucket}.{host}"
            options["endpoint"] = endpoint
        if self.access_key_id is not None and self.secret_access_key is not None:
            options["access_key_id"] = self.access_key_id
            options["secret_access_key"] = self.secret_access_key.reveal()
        if self.session_token is not None:
            options["session_token"] = self.session_token.reveal()
        return options

    def client_options(self) -> dict[str, Any]:
        """HTTP options: plain http only to an endpoint that says ``http://`` (a local test
        server); timeouts so that a store that does not answer cannot hold a run forever."""
        allow_http = bool(self.endpoint and self.endpoint.lower().startswith("http://"))
        return {**_CLIENT, "allow_http": allow_http}


def _bad(name: str, value: str, allowed: str) -> ConfigError:
    return ConfigError(f"{name}={value!r} is not allowed; {allowed}")


def _media_url(value: str) -> tuple[str, str, str | None, str, Path | None]:
    """(normalized url, scheme, bucket, prefix, root) of a ``WANBOOK_MEDIA`` value."""
    allowed = (
        "expected s3://bucket/prefix or file:///absolute/folder "
        "(unset: videos stay under WANBOOK_HOME/videos)"
    )
    try:
        parts = urlsplit(value)
    except ValueError:
        raise _bad(MEDIA_VAR, value, allowed) from None
    scheme = parts.scheme.lower()
    if parts.query or parts.fragment or any(ord(c) < 32 or c == "\\" for c in value):
        raise _bad(MEDIA_VAR, value, allowed)
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise _bad(MEDIA_VAR, value, allowed)
        root = Path(unquote(parts.path))
        if ".." in root.parts:
            raise _bad(MEDIA_VAR, value, "a file:// folder is absolute, without '..'")
        return root.as_uri(), "file", None, "", root
    if scheme != "s3":
        raise _bad(MEDIA_VAR, value, allowed)
    bucket = parts.netloc
    if "@" in bucket or ":" in bucket or not _BUCKET.match(bucket):
        raise _bad(
            MEDIA_VAR,
            value,
            f"the bucket {bucket!r} must be 3-63 lowercase letters, digits, dots or hyphens "
            "(s3://bucket/prefix)",
        )
    segments = [s for s in parts.path.split("/") if s]
    if any(s in (".", "..") for s in segments) or "//" in parts.path.strip("/"):
        raise _bad(MEDIA_VAR, value, "the prefix is folder names joined by '/', without '..'")
    prefix = "/".join(segments)
    return f"s3://{bucket}/{prefix}".rstrip("/"), "s3", bucket, prefix, None


def _printable(name: str, value: str, *, secret: bool) -> str:
    """``value`` stripped, refused (shown only if not a secret) unless printable ASCII."""
    text = value.strip()
    for position, char in enumerate(text, 1):
        if not ("!" <= char <= "~"):
            shown = "" if secret else f"={text!r}"
            raise ConfigError(
                f"{name}{shown} has a space, control character or non-ASCII letter at position "
                f"{position}; credentials are printable ASCII without spaces"
            )
    return text


def _endpoint(name: str, value: str) -> str:
    allowed = "expected http(s)://host[:port], e.g. https://s3.oss-cn-hangzhou.aliyuncs.com"
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise _bad(name, value, allowed) from None
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
        or parts.path not in ("", "/")
    ):
        raise _bad(name, value, allowed)
    return f"{parts.scheme.lower()}://{parts.netloc}"


def media_config(environ: Mapping[str, str] | None = None) -> MediaConfig | None:
    """The team store ``WANBOOK_MEDIA`` names, checked with its ``AWS_*`` settings; None when
    unset (videos stay local). Raises :class:`ConfigError` naming the variable, its value (never
    a secret's) and what is allowed; and when obstore is not installed."""
    env = os.environ if environ is None else environ
    value = (env.get(MEDIA_VAR) or "").strip()
    if not value:
        return None
    url, scheme, bucket, prefix, root = _media_url(value)
    if importlib.util.find_spec("obstore") is None:
        raise ConfigError(
            f"{MEDIA_VAR}={value!r} needs the obstore package, which is not installed: "
            f"{INSTALL_HINT}"
        )
    if scheme == "file":
        return MediaConfig(url=url, scheme=scheme, root=root)
    endpoint = None
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        if env.get(name, "").strip():
            endpoint = _endpoint(name, env[name])
            break
    region_name = "AWS_REGION" if env.get("AWS_REGION", "").strip() else "AWS_DEFAULT_REGION"
    region = env.get(region_name, "").strip() or "us-east-1"
    if not _REGION.match(region):
        raise _bad(
            region_name, region, "expected a region name such as us-east-1 or oss-cn-hangzhou"
        )
    key_id = env.get("AWS_ACCESS_KEY_ID", "").strip() or None
    secret_text = env.get("AWS_SECRET_ACCESS_KEY", "").strip() or None
    if (key_id is None) != (secret_text is None):
        missing = "AWS_SECRET_ACCESS_KEY" if secret_text is None else "AWS_ACCESS_KEY_ID"
        given = "AWS_ACCESS_KEY_ID" if secret_text is None else "AWS_SECRET_ACCESS_KEY"
        raise ConfigError(f"{given} is set but {missing} is not: set both (or neither)")
    if key_id is not None:
        key_id = _printable("AWS_ACCESS_KEY_ID", key_id, secret=False)
    secret = token = None
    if secret_text is not None:
        secret = Secret(_printable("AWS_SECRET_ACCESS_KEY", secret_text, secret=True))
    token_text = env.get("AWS_SESSION_TOKEN", "").strip()
    if token_text:
        token = Secret(_printable("AWS_SESSION_TOKEN", token_text, secret=True))
    style = env.get("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "").strip().lower()
    if style not in _TRUE + _FALSE:
        raise _bad(
            "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
            env["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"],
            "expected true or false (true for Alibaba OSS, which refuses path-style requests)",
        )
    return MediaConfig(
        url=url,
        scheme=scheme,
        bucket=bucket,
        prefix=prefix,
        endpoint=endpoint,
        region=region,
        access_key_id=key_id,
        secret_access_key=secret,
        session_token=token,
        virtual_hosted=style in _TRUE,
    )


def video_key(prefix: str, sha256: str) -> str:
    """The key of a video with this SHA-256 under ``prefix``: ``<prefix>/videos/ab/ab….mp4``."""
    if not _SHA256.match(sha256 or ""):
        raise StorageError(f"{sha256!r} is not a SHA-256 (64 lowercase hex digits)")
    return "/".join(p for p in (prefix, "videos", sha256[:2], f"{sha256}.mp4") if p)


# --------------------------------------------------------------------------- the store


class VideoStore:
    """The team's video store: put a verified video, check, fetch (verified) and sign one.

    Calls block (obstore's own runtime does the I/O): call them from a worker thread in async
    code. Stores of obstore are made on first use, one per bucket (a run's URI may name another
    bucket of the same account)."""

    def __init__(self, config: MediaConfig) -> None:
        self.config = config
        self._stores: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"VideoStore({self.config.url!r})"

    @property
    def url(self) -> str:
        return self.config.url

    # -------------------------------------------------------------- names
    def uri(self, sha256: str) -> str:
        """Where the video with this SHA-256 is (or would be) kept."""
        key = video_key(self.config.prefix, sha256)
        if self.config.scheme == "file":
            assert self.config.root is not None
            return (self.config.root / key).as_uri()
        return f"s3://{self.config.bucket}/{key}"

    def _locate(self, uri: str) -> tuple[Any, str]:
        """(obstore store, key) of a video URI this store's settings can reach."""
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        if scheme != self.config.scheme:
            raise StorageError(
                f"the video {uri!r} is not in a {self.config.scheme}:// store like "
                f"{MEDIA_VAR}={self.config.url!r}"
            )
        if scheme == "file":
            root = self.config.root
            assert root is not None
            path = Path(unquote(parts.path))  # as_uri() quotes spaces and the like
            if ".." in path.parts or not path.is_relative_to(root):
                raise StorageError(f"the video {uri!r} is outside {MEDIA_VAR}={self.url!r}")
            return self._store(""), path.relative_to(root).as_posix()
        bucket, key = parts.netloc, parts.path.lstrip("/")
        if not _BUCKET.match(bucket) or not key or ".." in key.split("/"):
            raise StorageError(f"{uri!r} is not the URI of a stored video (s3://bucket/key)")
        return self._store(bucket), key

    def _store(self, bucket: str) -> Any:
        store = self._stores.get(bucket)
        if store is None:
            try:
                from obstore.store import LocalStore, S3Store
            except ImportError:
                raise ConfigError(
                    f"{MEDIA_VAR}={self.url!r} needs the obstore package: {INSTALL_HINT}"
                ) from None
            if self.config.scheme == "file":
                assert self.config.root is not None
                try:
                    store = LocalStore(self.config.root, mkdir=True)
                except Exception as exc:  # obstore's errors are its own
                    raise self._error(f"cannot use the folder {self.url}", exc) from None
            else:
                retry = {
                    "max_retries": _RETRY_MAX,
                    "retry_timeout": _RETRY_WITHIN,
                    "backoff": {
                        "init_backoff": timedelta(milliseconds=100),
                        "max_backoff": timedelta(seconds=2),
                        "base": 2,
                    },
                }
                store = S3Store(
                    bucket,
                    client_options=self.config.client_options(),  # type: ignore[arg-type]
                    retry_config=retry,  # type: ignore[arg-type]
                    **self.config.s3_options(bucket),
                )
            self._stores[bucket] = store
        return store

    def _error(self, what: str, exc: BaseException) -> StorageError:
        """One line from a lower-level error, without any secret or query string."""
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        for secret in self.config.secrets():
            text = text.replace(secret, "********")
        text = re.sub(r"\?[^\s]*", "?…", text)  # a signed URL's query would be a credential
        kind = type(exc).__name__
        hint = ""
        if kind in ("UnauthenticatedError", "PermissionDeniedError"):
            hint = " (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket's policy)"
        return StorageError(f"{what}: {kind}: {text}{hint}")

    # -------------------------------------------------------------- operations
    def put_video(self, path: str | os.PathLike[str], sha256: str, size: int) -> str:
        """Store the verified local video ``path`` (its SHA-256 and byte size as logged) under
        its content key, create-only; return its URI. An object already there is the same video
        (same hash, same key): success, once its size agrees. Raises :class:`StorageError`."""
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        uri = self.uri(sha256)
        store, key = self._locate(uri)
        # The bytes stored are the bytes hashed: a local file changed since it was verified
        # must never land under the key of the video it was.
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot store {str(path)!r}: {exc.strerror or exc}") from None
        if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
            raise StorageError(
                f"cannot store {str(path)!r}: the file is no longer the verified video of the "
                f"run ({len(data)} bytes, the run log says {size}, or its SHA-256 differs)"
            )
        try:
            # S3 serves the type it was given: a presigned link then plays in a browser
            # (a local folder keeps no such attributes: obstore refuses them there).
            typed = {"attributes": {"Content-Type": "video/mp4"}} if self.config.bucket else {}
            obstore.put(store, key, data, mode="create", **typed)  # type: ignore[arg-type]
            return uri
        except (AlreadyExistsError, PreconditionError):
            pass  # a teammate (or an earlier try) stored it: check it below
        except Exception as exc:
            raise self._error(f"storing the video in {uri} failed", exc) from None
        stored = self.size(uri)
        if stored != size:
            raise StorageError(
                f"{uri} already holds {stored} bytes, not this video's {size}: left as it is "
                "(never overwritten); the store's copy is not this video"
            )
        return uri

    def size(self, uri: str) -> int | None:
        """The byte size of the object at ``uri``; None when there is none."""
        import obstore

        store, key = self._locate(uri)
        try:
            return int(obstore.head(store, key)["size"])
        except FileNotFoundError:  # obstore's NotFoundError is one
            return None
        except Exception as exc:
            raise self._error(f"looking up {uri} failed", exc) from None

    def exists(self, uri: str, size: int | None = None) -> bool:
        """Whether ``uri`` holds an object (of ``size`` bytes, when given). A store that cannot
        be asked answers False: reuse then pays for a new run rather than fail."""
        try:
            found = self.size(uri)
        except StorageError:
            return False
        return found is not None and (size is None or found == size)

    def fetch(
        self,
        uri: str,
        dest: str | os.PathLike[str],
        *,
        sha256: str,
        size: int | None = None,
    ) -> Path:
        """Copy the stored video ``uri`` to ``dest``, verified: streamed into a temporary file
        beside it while hashing, refused (and deleted) unless its size and SHA-256 are the run
        log's, then fsynced and renamed into place. Raises :class:`DownloadError`."""
        import obstore

        dest = Path(dest)
        try:
            store, key = self._locate(uri)
        except StorageError as exc:
            raise DownloadError(str(exc)) from None
        make_folder_for(dest)
        tmp = dest.with_name(f"{dest.name}.part-{secrets.token_hex(6)}")
        digest, got = hashlib.sha256(), 0
        try:
            result = obstore.get(store, key)
            announced = int(result.meta["size"])
            if size is not None and announced != size:
                raise DownloadError(
                    f"the stored video {uri} has {announced} bytes, the run log says {size}: "
                    "refused (it is not this run's video)"
                )
            with tmp.open("xb") as fh:
                for chunk in result:
                    data = memoryview(chunk)
                    got += len(data)
                    if size is not None and got > size:
                        raise DownloadError(f"the stored video {uri} is longer than logged")
                    digest.update(data)
                    fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if digest.hexdigest() != sha256:
                raise DownloadError(
                    f"the stored video {uri} does not match the run's SHA-256 "
                    f"({digest.hexdigest()[:12]}… ≠ {sha256[:12]}…): refused, nothing is shown"
                )
            os.replace(tmp, dest)
            return dest
        except DownloadError:
            raise
        except FileNotFoundError as exc:  # obstore's NotFoundError is one (and a lost folder)
            if not tmp.parent.is_dir():
                raise DownloadError(f"cannot write {str(tmp)!r}") from exc
            raise DownloadError(f"the stored video {uri} is not there") from None
        except OSError as exc:
            raise DownloadError(f"cannot write {str(tmp)!r}: {exc.strerror or exc}") from exc
        except Exception as exc:
            raise DownloadError(str(self._error(f"fetching {uri} failed", exc))) from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def sign(self, uri: str, expires: timedelta = SIGN_DEFAULT) -> str:
        """A presigned GET link to the stored video, valid for ``expires``: for a browser or a
        teammate without credentials. Whoever holds the link can fetch the video until then.
        A ``file://`` store has no links to sign: its ``file://`` URI is returned."""
        import obstore

        store, key = self._locate(uri)
        if self.config.scheme == "file":
            return uri
        try:
            return str(obstore.sign(store, "GET", key, expires))
        except Exception as exc:
            raise self._error(f"signing a link to {uri} failed", exc) from None
