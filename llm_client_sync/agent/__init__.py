"""Agents: a model that calls tools in a loop (ReAct), tools running in parallel threads."""

from ._agent import Agent, AgentStream
from ._result import AgentConfig, AgentResult, AgentStatus

__all__ = ["Agent", "AgentConfig", "AgentResult", "AgentStatus", "AgentStream"]
