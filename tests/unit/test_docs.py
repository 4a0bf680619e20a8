"""The reference docs cover every message type and every body part the format has."""

from __future__ import annotations

import pytest

from adapter.codec.body_xml import PARTS
from mappings.model import MessageType
from tests.support import ROOT

FORMAT = (ROOT / "docs" / "message-format.md").read_text()
MAPPING = (ROOT / "docs" / "mapping.md").read_text()


@pytest.mark.parametrize("mtype", list(MessageType), ids=str)
def test_every_type_has_a_section_and_a_mapping_row(mtype: MessageType) -> None:
    assert f"### {mtype.value}\n" in FORMAT
    assert f"\n| {mtype.value} | " in MAPPING


def test_every_body_part_is_documented() -> None:
    for part in PARTS:
        assert f"| `{part.element}` |" in FORMAT, part.element
