"""A plain message list with the Conversation interface, used until conversation.py exists.

Temporary: deleted once llm_client_sync.conversation lands (it adds token-aware truncation).
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Mapping

__all__ = ["MessageList"]


class MessageList:
    """Messages in order, no truncation; thread-safe."""

    def __init__(self, system_message: str | None = None, **_: Any) -> None:
        self.system_message = system_message
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []

    def add_message(self, message: Mapping[str, Any]) -> None:
        with self._lock:
            self._messages.append(copy.deepcopy(dict(message)))

    def add_user(self, text: str) -> None:
        self.add_message({"role": "user", "content": text})

    def add_assistant(self, content: str | None = None, tool_calls: Any = None) -> None:
        msg: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            msg["tool_calls"] = list(tool_calls)
        self.add_message(msg)

    def add_tool_result(self, tool_call_id: str, content: str, name: str | None = None) -> None:
        self.add_message({"role": "tool", "tool_call_id": tool_call_id, "content": content})

    @property
    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            head = [{"role": "system", "content": self.system_message}] if self.system_message else []
            return head + copy.deepcopy(self._messages)

    def get_messages(self, model: str | None = None) -> list[dict[str, Any]]:
        return self.messages

    def fork(self) -> "MessageList":
        other = MessageList(self.system_message)
        with self._lock:
            other._messages = copy.deepcopy(self._messages)
        return other

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def __len__(self) -> int:
        return len(self.messages)
