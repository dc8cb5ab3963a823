import xml.etree.ElementTree as ET

from labeling.schema import LabelSchema, load_schema
from labeling.studio.config_xml import build_label_config


def test_config_has_every_tag_with_its_hotkey_and_multiple_choice():
    schema = load_schema()
    root = ET.fromstring(build_label_config(schema))
    controls = root.findall(".//Choices")
    assert len(controls) == 1 and controls[0].get("choice") == "multiple"
    got = {c.get("value"): c.get("hotkey") for c in controls[0].findall("Choice")}
    assert got == {t.name: t.hotkey for t in schema.tags}


def test_config_shows_context_title_source_and_definitions():
    schema = load_schema()
    xml = build_label_config(schema)
    root = ET.fromstring(xml)
    values = {e.get("value") for e in root.iter() if e.get("value")}
    assert {"$text", "$prev_text", "$next_text", "$title", "$source_line"} <= values
    for tag in schema.tags:
        assert any(tag.definition in v for v in values), tag.name
    assert root.find(".//View[@className='stance-target']/Text").get("name") == "text"


def test_config_escapes_markup_and_dollar_signs_in_definitions():
    schema = LabelSchema.model_validate({"tags": [
        {"name": "odd", "hotkey": "1", "colour": "#000000", "definition": 'Uses <tags> & "quotes" and $money'}]})
    root = ET.fromstring(build_label_config(schema))
    hint = root.find(".//Choice").get("hint")
    assert "<tags> & \"quotes\"" in hint and "$" not in hint


def test_config_is_deterministic():
    assert build_label_config(load_schema()) == build_label_config(load_schema())


def _headers(xml: str) -> list[str]:
    return [e.get("value") for e in ET.fromstring(xml).iter("Header")]


def test_view_names_the_model_whose_ticks_annotators_see_and_how_to_submit():
    with_model = _headers(build_label_config(load_schema(), "stance-finetune v7"))
    assert any("Pre-ticked tags come from the model stance-finetune v7" in h and "50% = a coin flip" in h
               for h in with_model)
    without = _headers(build_label_config(load_schema()))
    assert not any("Pre-ticked" in h for h in without)
    for headers in (with_model, without):
        assert any("Ctrl+Enter" in h and "docs/annotation-guide.md" in h for h in headers)
