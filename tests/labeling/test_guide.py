"""The annotation guide page is generated from configs/labels.yaml and kept in sync with it."""
from __future__ import annotations

from labeling.config import PROJECT_ROOT
from labeling.schema import LabelSchema, annotation_guide_html, annotation_guide_markdown, load_schema
from tests.helpers import cli_invoker

GUIDE = PROJECT_ROOT / "docs" / "annotation-guide.md"


def test_committed_guide_page_is_the_one_labels_yaml_generates():
    # fails when labels.yaml changed without `stance label guide --out docs/annotation-guide.md`
    assert GUIDE.read_text(encoding="utf-8") == annotation_guide_markdown(load_schema())


def test_guide_holds_every_definition_example_and_borderline_rule():
    schema = load_schema()
    page = annotation_guide_markdown(schema)
    for tag in schema.tags:
        assert f"## {tag.name} (hotkey {tag.hotkey})" in page and tag.definition in page
        for line in tag.examples + tag.notes:
            assert f"- {line}" in page, line
    assert all(c in page for c in schema.combinations) and "Ctrl+Enter" in page


def test_guide_html_escapes_the_schema_text():
    schema = LabelSchema.model_validate({"tags": [
        {"name": "odd", "hotkey": "1", "colour": "#000000", "definition": "Uses <script>x</script> & co",
         "notes": ["<img src=x onerror=alert(1)>"]}]})
    html = annotation_guide_html(schema)
    assert "<script>" not in html and "&lt;script&gt;" in html and "<img" not in html


def test_guide_command_writes_the_page(tmp_path):
    out = tmp_path / "guide.md"
    res = cli_invoker("label")("guide", "--out", out)
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8") == GUIDE.read_text(encoding="utf-8")
