"""Types, protocols, errors and the component registry shared by every room."""

from ragloom.core.errors import RagloomError
from ragloom.core.types import Chunk, Completion, Document, Hit, Message, ToolCall, Usage

__all__ = ["Chunk", "Completion", "Document", "Hit", "Message", "RagloomError", "ToolCall", "Usage"]
