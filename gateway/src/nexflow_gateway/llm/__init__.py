"""The LLM tool-calling loop through litellm."""

from .embeddings import Embedder
from .loop import SYSTEM_PROMPT, Agent
from .model import close_sessions
from .tools import Toolbox, tool_name

__all__ = ["SYSTEM_PROMPT", "Agent", "Embedder", "Toolbox", "close_sessions", "tool_name"]
