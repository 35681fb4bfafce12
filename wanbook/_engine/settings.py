"""Settings: explicit arguments beat the environment, the environment beats defaults.

The environment is read when a session is made (``Settings.from_env``), never at import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from wanbook._api.account_state import default_state_dir
from wanbook._errors import ConfigError
from wanbook._media.store import MediaConfig, media_config
from wanbook._secret import Secret
from wanbook._spec.catalogue import catalogue
from wanbook._sql import DatabaseError, parse_url

__all__ = ["DEFAULT_HOME", "Settings"]

DEFAULT_HOME = "wanbook-runs"
ENV_KEY = "DASHSCOPE_API_KEY"


@dataclass(frozen=True)
class Settings:
    """Where to send requests and where to keep runs.

    ``base_url is None`` with no ``api_key`` means: use the embedded emulator.
    """

    api_key: Secret | None
    region: str
    workspace_id: str | None
    base_url: str | None
    home: Path
    #: Where the account-wide state of this user lives (pacing shared by processes, named
    #: budgets): ``WANBOOK_STATE_DIR``, else the per-user state folder. Not under ``home``.
    state_dir: Path = field(default_factory=default_state_dir)
    #: Where verified videos are also kept for the team (``WANBOOK_MEDIA``: ``s3://bucket/prefix``
    #: with the standard ``AWS_*`` variables, or ``file:///folder``); None: only on this machine,
    #: under ``home/videos``. Checked when the settings are made, before anything is sent.
    media: MediaConfig | None = None
    #: The run log's database: ``WANBOOK_DB`` (``postgresql://user@host/dbname`` for a team, or
    #: a SQLite file); None: ``<home>/runs.sqlite``. Never holds a password (refused).
    db: str | None = None

    @classmethod
    def from_env(
        cls,
        *,
        api_key: str | Secret | None = None,
        region: str | None = None,
        workspace_id: str | None = None,
        base_url: str | None = None,
        home: str | os.PathLike[str] | None = None,
        db: str | None = None,
        environ: Mapping[str, str] | None = None,
        emulator: bool = False,
        media: str | None = None,
    ) -> Settings:
        """Resolve settings. ``emulator=True`` ignores any key and base URL (demo, tests)."""
        env = os.environ if environ is None else environ
        if media is not None:  # an explicit store beats WANBOOK_MEDIA ("" : none, local only)
            env = {**env, "WANBOOK_MEDIA": media}
        key = api_key if api_key is not None else (env.get(ENV_KEY) or None)
        if emulator:
            key, base_url, env = (
                None,
                None,
                {k: v for k, v in env.items() if k != "WANBOOK_BASE_URL"},
            )
        secret = None if key is None else _secret(key)
        source = "region" if region else "WANBOOK_REGION"  # name where a bad value came from
        region = region or env.get("WANBOOK_REGION") or "intl"
        regions = catalogue().regions
        if region not in regions:
            raise ConfigError(f"{source} {region!r} is unknown; choose one of {', '.join(regions)}")
        workspace_id = workspace_id or env.get("WANBOOK_WORKSPACE_ID") or None
        base_url = base_url or env.get("WANBOOK_BASE_URL") or None
        if base_url is not None:
            base_url = _check_base_url(base_url)
        # Absolute from the start: the run log stores paths under it (videos, and they must
        # still be found from a notebook in another folder or after a `cd`).
        home_path = Path(
            os.path.abspath(Path(home or env.get("WANBOOK_HOME") or DEFAULT_HOME).expanduser())
        )
        db = db or env.get("WANBOOK_DB") or None
        if db is not None:
            try:
                parse_url(db)  # fail now, with the URL's password (if any) never shown
            except DatabaseError as exc:
                source = "db" if db != env.get("WANBOOK_DB") else "WANBOOK_DB"
                raise ConfigError(f"{source}: {exc}") from None
        settings = cls(
            secret,
            region,
            workspace_id,
            base_url,
            home_path,
            default_state_dir(env),
            media_config(env),
            db,
        )
        if secret is not None and base_url is None:
            settings.endpoint()  # fail now, not at the first request, if eu lacks a workspace
        return settings

    @property
    def uses_emulator(self) -> bool:
        """True when no key and no base URL are configured: the embedded emulator is used."""
        return self.api_key is None and self.base_url is None

    def endpoint(self) -> str:
        """The base URL (ending in ``/api/v1``) of the configured region or override."""
        if self.base_url is not None:
            return self.base_url
        try:
            return catalogue().regions[self.region].url(self.workspace_id)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def _secret(value: str | Secret) -> Secret:
    """The key as a :class:`Secret`, refused (never shown) unless it can go in an HTTP header:
    a newline, NUL or other control character, or a non-ASCII letter, would otherwise fail at the
    first request (after the run was logged) or end up quoted in an error."""
    try:
        secret = value if isinstance(value, Secret) else Secret(value)
    except ValueError:
        raise ConfigError(f"{ENV_KEY} is set but empty") from None
    for position, char in enumerate(secret.reveal(), 1):
        if not ("!" <= char <= "~"):
            what = "a non-ASCII letter" if ord(char) > 127 else "a space or control character"
            raise ConfigError(
                f"the API key ({ENV_KEY} or api_key=) has {what} at position {position}; "
                "a key is printable ASCII without spaces: copy it again from the console"
            )
    return secret


def _check_base_url(url: str) -> str:
    url = url.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"WANBOOK_BASE_URL {url!r} must be an http(s) URL ending in /api/v1")
    if not parts.path.endswith("/api/v1"):
        raise ConfigError(
            f"WANBOOK_BASE_URL {url!r} must end in /api/v1 (e.g. http://127.0.0.1:8000/api/v1)"
        )
    return url
