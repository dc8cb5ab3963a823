"""Typed settings for the Label Studio commands (`configs/studio.yaml`).

Connection: `LABEL_STUDIO_URL` overrides the YAML `url`; the API key comes from
`LABEL_STUDIO_API_KEY`, or, for the local `make studio` server, from the credentials
file it writes under its data directory. The key is never stored in the YAML, and it is
stripped and checked where it is read (`clean_api_key`): a pasted key ending in a newline
would otherwise reach the HTTP layer, whose error quotes the whole header, key included.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from labeling.config import CONFIG_DIR, PROJECT_ROOT, StrictModel, load_config

DEFAULT_STUDIO_CONFIG = CONFIG_DIR / "studio.yaml"
CREDENTIALS_FILE = "stance-credentials.json"
# What an HTTP header value can carry without being refused (and quoted) by the HTTP layer:
# visible ASCII. Label Studio's tokens (hex, or JWTs: base64url and dots) all fit.
_KEY_CHARS = re.compile(r"[!-~]+")


class StudioConfig(StrictModel):
    """Settings shared by `stance label ...` and the local server."""

    url: str = "http://127.0.0.1:8080"
    project_title: str = "Stance Lab"
    project_id: int | None = None
    batch_size: int = Field(100, gt=0)
    retries: int = Field(3, ge=0)
    retry_backoff_s: float = Field(1.0, ge=0)
    timeout_s: float = Field(60.0, gt=0)
    annotations_dir: str = "data/annotations"
    server_data_dir: str = "data/labelstudio"
    server_host: str = "127.0.0.1"
    server_port: int = Field(8080, gt=0, lt=65536)
    admin_username: str = "admin@stance.local"
    start_timeout_s: float = Field(180.0, gt=0)
    seed: int = 0
    # Double annotation, so that `stance label agreement` has something to measure: a share of
    # the tasks (sampled by Label Studio) is served to this many annotators; the rest to one.
    annotators_per_task: int = Field(2, ge=1, le=20)
    overlap_share: float = Field(0.2, gt=0, le=1)
    overlap_first: bool = False      # serve the overlapping tasks before the others (before uncertainty order)


def load_studio_config(path: Path | str | None = None, **overrides) -> StudioConfig:
    """Defaults, then `configs/studio.yaml` (or `path`), then non-None overrides.

    Raises labeling.config.ConfigError naming the key on unknown keys or bad values.
    """
    return load_config(StudioConfig, path, overrides, default=DEFAULT_STUDIO_CONFIG)


def resolve_path(value: str | Path) -> Path:
    """Relative paths in the config are relative to the project root, not the cwd."""
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


@dataclass(frozen=True)
class Connection:
    """Where the server is and how to authenticate. `repr` hides the key."""

    url: str
    api_key: str

    def __repr__(self) -> str:
        return f"Connection(url={self.url!r}, api_key=<hidden>)"


def clean_api_key(raw: object, source: str) -> str:
    """The API key read from `source` (e.g. "LABEL_STUDIO_API_KEY"), without the whitespace
    around it (a pasted key often ends in CR, LF or a space); "" when nothing is left.

    Raises ValueError naming `source` (never quoting the key) when it is not a string or
    holds characters an HTTP header cannot carry (spaces or control characters inside it).
    """
    if not isinstance(raw, str):
        raise ValueError(f"the API key in {source} is not a string")
    key = raw.strip()
    if key and not _KEY_CHARS.fullmatch(key):
        raise ValueError(f"the API key in {source} holds spaces, control or non-ASCII characters inside it "
                         "(not printed); copy it again from Account & Settings > Access Token")
    return key


def read_credentials(data_dir: Path) -> dict | None:
    """The credentials the local server stored in `data_dir`, or None when absent."""
    path = Path(data_dir) / CREDENTIALS_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def resolve_connection(cfg: StudioConfig, env: dict[str, str] | None = None) -> Connection:
    """URL from LABEL_STUDIO_URL or the config; key from LABEL_STUDIO_API_KEY or local credentials.

    The key is stripped and checked (`clean_api_key`); a blank LABEL_STUDIO_API_KEY counts as unset.
    Raises ValueError when no API key can be found (the message says where to put one) or
    when the key found is malformed (the message names where it came from, not the key).
    """
    env = dict(os.environ) if env is None else env
    url = (env.get("LABEL_STUDIO_URL") or cfg.url).rstrip("/")
    key = clean_api_key(env.get("LABEL_STUDIO_API_KEY") or "", "LABEL_STUDIO_API_KEY")
    if not key:
        data_dir = resolve_path(cfg.server_data_dir)
        creds = read_credentials(data_dir)
        if creds and str(creds.get("url", "")).rstrip("/") == url:
            key = clean_api_key(creds.get("api_key") or "", str(data_dir / CREDENTIALS_FILE))
    if not key:
        raise ValueError(
            f"no API key for Label Studio at {url}: set LABEL_STUDIO_API_KEY "
            "(Account & Settings > Access Token), or start the local server with `make studio`"
        )
    return Connection(url=url, api_key=key)
