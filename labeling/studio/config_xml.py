"""The Label Studio labeling config, generated from the label schema.

One multi-choice control (`stance`) over the target sentence, with a hotkey, colour
and hint per tag; the sentence is highlighted between its previous and next
sentences, under the article title, source and date; the tag definitions are shown
below the choices so annotators never need a second window, with the way to submit
(Ctrl+Enter), where the full guide is, and, when the project shows a model's
pre-annotations, which model ticked the boxes and what its score means.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

from labeling.schema import LabelSchema

CONTROL_NAME = "stance"
TARGET_NAME = "text"
GUIDE_PATH = "docs/annotation-guide.md"

_CSS = """
.stance-meta { color: #555; font-size: 13px; margin-bottom: 4px; }
.stance-context { color: #777; font-size: 14px; }
.stance-target { background: #fff4c2; border-left: 5px solid #f0b400; padding: 6px 12px; margin: 6px 0; font-size: 17px; }
.stance-guide { border-top: 1px solid #ddd; margin-top: 12px; padding-top: 6px; }
.stance-note { color: #555; font-size: 13px; margin: 4px 0; }
.stance-note * { font-size: 13px !important; font-weight: 400 !important; margin: 2px 0 !important; }
.stance-guide * { font-size: 13px !important; font-weight: 400 !important; line-height: 1.35 !important; margin: 3px 0 !important; color: #444; }
"""


def _sub(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})


def _static(text: str) -> str:
    # A leading "$" would make Label Studio read the value as a task field.
    return text.replace("$", "\uff04")


def model_note(model_version: str) -> str:
    """The line telling annotators that pre-ticked tags are a model's guess and what its score means."""
    return (f"Pre-ticked tags come from the model {model_version}: check each one, untick what does not "
            "apply. Its score (Predictions) is how sure it is of its least sure tag: 50% = a coin flip, "
            "100% = certain.")


def build_label_config(schema: LabelSchema, model_version: str | None = None) -> str:
    """Return the Label Studio XML config for `schema` (deterministic, pretty-printed).

    Choice values are the tag names, so exports map back to the schema without a lookup.
    `model_version`: the model whose predictions the project shows (its `model_version`
    setting); the view then says the ticks are that model's.
    """
    view = ET.Element("View")
    style = _sub(view, "Style")
    style.text = _CSS
    meta = _sub(view, "View", className="stance-meta")
    _sub(meta, "Header", value="$title", size="4")
    _sub(meta, "Text", name="source", value="$source_line")
    _sub(_sub(view, "View", className="stance-context"), "Text", name="prev", value="$prev_text")
    _sub(_sub(view, "View", className="stance-target"), "Text", name=TARGET_NAME, value="$text")
    _sub(_sub(view, "View", className="stance-context"), "Text", name="next", value="$next_text")
    _sub(view, "Header", value="Tags that apply to the highlighted sentence (none = no stance):", size="6")
    choices = _sub(
        view, "Choices", name=CONTROL_NAME, toName=TARGET_NAME, choice="multiple", showInline="true"
    )
    for tag in schema.tags:
        _sub(choices, "Choice", value=tag.name, hotkey=tag.hotkey, background=tag.colour,
             hint=_static(tag.definition))
    note = _sub(view, "View", className="stance-note")
    if model_version:
        _sub(note, "Header", value=_static(model_note(model_version)), size="6")
    _sub(note, "Header", value=f"Submit with Ctrl+Enter (Cmd+Enter on a Mac). The full guide with the borderline "
                               f"rules: the Instructions button above, or {GUIDE_PATH} in the Stance Lab project.",
         size="6")
    guide = _sub(view, "View", className="stance-guide")
    for tag in schema.tags:
        _sub(guide, "Header", value=_static(f"[{tag.hotkey}] {tag.name}: {tag.definition}"), size="6")
    if schema.not_tagged:
        _sub(guide, "Header", value=_static("Not tagged: " + " ".join(schema.not_tagged.split())), size="6")
    ET.indent(view, space="  ")
    return ET.tostring(view, encoding="unicode") + "\n"
