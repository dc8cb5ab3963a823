"""The label schema: tag names, definitions, cues, examples, hotkeys and colours.

`configs/labels.yaml` is the single source of truth; every component reads tags from
here or from a model artifact that recorded them.
"""
from __future__ import annotations

import re
from pathlib import Path

from pydantic import field_validator, model_validator

from labeling.config import CONFIG_DIR, ConfigError, StrictModel, load_config

DEFAULT_SCHEMA_PATH = CONFIG_DIR / "labels.yaml"
_TAG_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


class Tag(StrictModel):
    name: str
    definition: str
    hotkey: str
    colour: str
    cues: list[str] = []
    examples: list[str] = []
    notes: list[str] = []

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _TAG_NAME.match(v):
            raise ValueError(f"tag name {v!r} must be lowercase letters, digits, '-' or '_'")
        return v

    @field_validator("definition")
    @classmethod
    def _definition(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("definition must not be empty")
        return " ".join(v.split())

    @field_validator("hotkey")
    @classmethod
    def _hotkey(cls, v: str) -> str:
        if len(v) != 1:
            raise ValueError(f"hotkey {v!r} must be a single character")
        return v

    @field_validator("colour")
    @classmethod
    def _colour(cls, v: str) -> str:
        if not _COLOUR.match(v):
            raise ValueError(f"colour {v!r} must look like #rrggbb")
        return v


class LabelSchema(StrictModel):
    version: int = 1
    unit: str = ""
    not_tagged: str = ""
    tags: list[Tag]
    combinations: list[str] = []

    @model_validator(mode="after")
    def _unique(self) -> "LabelSchema":
        if not self.tags:
            raise ValueError("tags: at least one tag is required")
        for attr in ("name", "hotkey"):
            seen: set[str] = set()
            for i, tag in enumerate(self.tags):
                value = getattr(tag, attr)
                if value in seen:
                    raise ValueError(f"tags.{i}.{attr}: duplicate {attr} {value!r}")
                seen.add(value)
        return self

    @property
    def names(self) -> list[str]:
        """Tag names in schema order: the column order used everywhere."""
        return [t.name for t in self.tags]

    def tag(self, name: str) -> Tag:
        for t in self.tags:
            if t.name == name:
                return t
        raise KeyError(f"unknown tag {name!r}; the schema has {', '.join(self.names)}")


def load_schema(path: Path | str | None = None) -> LabelSchema:
    """Load and validate the label schema (default: configs/labels.yaml).

    Raises ConfigError naming the file and key on unknown keys, duplicate names or
    hotkeys, empty definitions, or a missing file.
    """
    path = Path(path) if path is not None else DEFAULT_SCHEMA_PATH
    if not path.exists():
        raise ConfigError(f"{path}: label schema not found")
    return load_config(LabelSchema, path)


GUIDE_TITLE = "Stance Lab annotation guide"


def _guide_sections(schema: LabelSchema) -> list[tuple[str, list[str], list[tuple[str, list[str]]]]]:
    """(heading, paragraphs, [(list title, items)]) per section: one source for both renderings."""
    sections = [("What to label", [" ".join(schema.unit.split())] if schema.unit else [], [])]
    for tag in schema.tags:
        paragraphs = [tag.definition] + ([f"Cues: {', '.join(tag.cues)}."] if tag.cues else [])
        lists = [("Examples", tag.examples), ("Borderline rules", tag.notes)]
        sections.append((f"{tag.name} (hotkey {tag.hotkey})", paragraphs, [(t, i) for t, i in lists if i]))
    if schema.not_tagged:
        sections.append(("Not tagged (no stance)", [" ".join(schema.not_tagged.split())], []))
    if schema.combinations:
        sections.append(("Combinations", [], [("", schema.combinations)]))
    sections.append(("In Label Studio", [
        "Tick every tag that applies to the highlighted sentence (keys 1-"
        f"{len(schema.tags)} toggle them); tick none for no stance. Submit with Ctrl+Enter (Cmd+Enter on a Mac).",
        "Tags ticked when a task opens are a model's pre-annotation (the line under the choices names the "
        "model): check each one. Its score is how sure the model is of its least sure tag (50% = a coin flip, "
        "100% = certain).",
    ], []))
    return sections


def annotation_guide_markdown(schema: LabelSchema) -> str:
    """The annotation guide page (docs/annotation-guide.md) generated from the schema:
    the unit, each tag with its definition, cues, examples and borderline rules, what is not
    tagged, combinations and how to label in Label Studio. Deterministic."""
    out = [f"# {GUIDE_TITLE}", "",
           "<!-- Generated from configs/labels.yaml by `stance label guide --out docs/annotation-guide.md`;",
           "     edit the YAML, not this page (tests/labeling/test_guide.py checks they agree). -->", ""]
    for heading, paragraphs, lists in _guide_sections(schema):
        out += [f"## {heading}", ""]
        for para in paragraphs:
            out += [para, ""]
        for title, items in lists:
            if title:
                out += [f"**{title}**", ""]
            out += [f"- {item}" for item in items] + [""]
    return "\n".join(out).rstrip("\n") + "\n"


def annotation_guide_html(schema: LabelSchema) -> str:
    """The same guide as HTML, for the project's instructions in Label Studio (escaped text)."""
    from html import escape

    out = [f"<h2>{escape(GUIDE_TITLE)}</h2>"]
    for heading, paragraphs, lists in _guide_sections(schema):
        out.append(f"<h3>{escape(heading)}</h3>")
        out += [f"<p>{escape(p)}</p>" for p in paragraphs]
        for title, items in lists:
            if title:
                out.append(f"<p><b>{escape(title)}</b></p>")
            out.append("<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>")
    return "\n".join(out) + "\n"
