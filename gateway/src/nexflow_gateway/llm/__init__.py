"""The LLM tool-calling loop through litellm."""

from .loop import SYSTEM_PROMPT, Agent
from .tools import Toolbox, tool_name

__all__ = ["SYSTEM_PROMPT", "Agent", "Toolbox", "tool_name"]
