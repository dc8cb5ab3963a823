"""The label schema: configs/labels.yaml loads; bad schemas fail naming the key."""
from __future__ import annotations

import pytest
import yaml

from labeling.config import ConfigError
from labeling.schema import DEFAULT_SCHEMA_PATH, load_schema


def _tag(name, hotkey, definition="A definition."):
    return {"name": name, "hotkey": hotkey, "colour": "#112233", "definition": definition}


def _write(tmp_path, data):
    path = tmp_path / "labels.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_schema_loads_with_the_four_tags():
    schema = load_schema(DEFAULT_SCHEMA_PATH)
    assert schema.names == ["escalation", "de-escalation", "accusation", "denial"]
    assert all(t.definition and t.hotkey for t in schema.tags)


def test_unknown_key_fails_naming_it(tmp_path):
    path = _write(tmp_path, {"tags": [{**_tag("a", "1"), "shortcut": "x"}]})
    with pytest.raises(ConfigError, match=r"tags\.0\.shortcut: unknown key"):
        load_schema(path)


def test_duplicate_name_fails_naming_it(tmp_path):
    path = _write(tmp_path, {"tags": [_tag("a", "1"), _tag("a", "2")]})
    with pytest.raises(ConfigError, match=r"tags\.1\.name: duplicate name 'a'"):
        load_schema(path)


def test_duplicate_hotkey_fails_naming_it(tmp_path):
    path = _write(tmp_path, {"tags": [_tag("a", "1"), _tag("b", "1")]})
    with pytest.raises(ConfigError, match=r"tags\.1\.hotkey: duplicate hotkey '1'"):
        load_schema(path)


def test_empty_definition_fails_naming_it(tmp_path):
    path = _write(tmp_path, {"tags": [_tag("a", "1", definition="  ")]})
    with pytest.raises(ConfigError, match=r"tags\.0\.definition: .*definition must not be empty"):
        load_schema(path)


def test_missing_schema_file_fails_naming_the_path(tmp_path):
    with pytest.raises(ConfigError, match="label schema not found"):
        load_schema(tmp_path / "nope.yaml")
