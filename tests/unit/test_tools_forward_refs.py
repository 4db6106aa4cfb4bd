"""Quoted forward references inside generics (``list["Item"]``) in @tool signatures, which
``typing.get_type_hints`` leaves unresolved before Python 3.11."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, Optional

from llm_client_sync import tool
from llm_client_sync.tools._schema import resolve_forward_refs


@dataclass
class Part:
    sku: str
    qty: int


def test_local_class_quoted_inside_list_is_resolved_and_converted():
    @dataclass
    class Item:
        name: str
        qty: int

    @tool
    def order(items: list["Item"], note: "Optional[str]" = None) -> str:
        """Order items.

        Args:
            items: what to order.
            note: a note.
        """
        return ",".join(f"{i.name}x{i.qty}" for i in items)

    props = order.parameters["properties"]
    assert props["items"]["items"]["properties"] == {"name": {"type": "string"}, "qty": {"type": "integer"}}
    result = order.execute('{"items": [{"name": "bolt", "qty": 3}]}') if hasattr(order, "execute") else None
    out = order(items=[Item("bolt", 3)])
    assert out == "boltx3"
    assert result is None or "boltx3" in str(getattr(result, "content", result))


def test_nested_refs_in_dict_union_and_annotated():
    ns = {"Part": Part}
    tp = resolve_forward_refs(dict[str, list[typing.ForwardRef("Part")]], ns, None)
    assert tp == dict[str, list[Part]]
    tp = resolve_forward_refs(Optional[list[typing.ForwardRef("Part")]], ns, None)
    assert tp == Optional[list[Part]]
    tp = resolve_forward_refs(Annotated[list[typing.ForwardRef("Part")], "parts"], ns, None)
    assert typing.get_args(tp)[0] == list[Part] and tp.__metadata__ == ("parts",)
    assert resolve_forward_refs(int, ns, None) is int
