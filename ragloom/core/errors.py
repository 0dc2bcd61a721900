"""One exception hierarchy for ragloom. Every error says what was wrong, where, and how to fix it.

RagloomError
├── ConfigError                 bad parameters or settings (names the parameter)
│   └── MissingExtraError       an optional dependency is not installed (names the pip extra)
├── RegistryError               unknown component name (lists the valid names)
├── FlowError
│   ├── FlowCompileError        the graph is invalid (names the node/edge and the fix)
│   ├── FlowDefinitionError     a YAML/Python flow definition is malformed (file, line, column)
│   ├── StateUpdateError        a node returned a bad update (node, key, expected type)
│   ├── ConflictingWriteError   two nodes wrote one key in a step without a reducer
│   ├── NodeExecutionError      a node raised (node name, step, attempt)
│   ├── NodeTimeoutError        a node ran past its timeout
│   └── StepLimitError          a loop ran past the flow's step limit
├── LLMError
│   ├── LLMHTTPError            a 4xx/5xx answer, with the server's message
│   ├── LLMTimeoutError
│   ├── LLMStreamError          a truncated or malformed stream
│   └── StructuredOutputError   output did not validate after the repair attempt
├── ToolError                   a tool's arguments or execution failed (fed back to the model)
├── DatasetError                a dataset folder is not in BEIR layout (file and line)
└── IndexError_                 an index is missing, incompatible or corrupt
"""

from __future__ import annotations


class RagloomError(Exception):
    """Base class of every error ragloom raises on purpose."""


class ConfigError(RagloomError, ValueError):
    pass


class MissingExtraError(ConfigError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        what = f" for {purpose}" if purpose else ""
        super().__init__(
            f"{package} is needed{what} but is not installed; install it with: pip install 'ragloom[{extra}]'"
        )


class RegistryError(RagloomError, KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class FlowError(RagloomError):
    pass


class FlowCompileError(FlowError):
    pass


class FlowDefinitionError(FlowError):
    """A flow definition is malformed. Carries the location when the definition came from a file."""

    def __init__(
        self, message: str, file: str | None = None, line: int | None = None, column: int | None = None
    ) -> None:
        self.file, self.line, self.column = file, line, column
        where = ""
        if file is not None:
            where = f"{file}"
            if line is not None:
                where += f":{line}"
                if column is not None:
                    where += f":{column}"
            where += ": "
        super().__init__(where + message)


class StateUpdateError(FlowError, TypeError):
    pass


class ConflictingWriteError(FlowError):
    pass


class NodeExecutionError(FlowError):
    def __init__(self, message: str, node: str | None = None) -> None:
        self.node = node
        super().__init__(message)


class NodeTimeoutError(NodeExecutionError, TimeoutError):
    pass


class StepLimitError(FlowError):
    pass


class LLMError(RagloomError):
    pass


class LLMHTTPError(LLMError):
    def __init__(self, message: str, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


class LLMTimeoutError(LLMError, TimeoutError):
    pass


class LLMStreamError(LLMError):
    pass


class StructuredOutputError(LLMError):
    pass


class ToolError(RagloomError):
    pass


class DatasetError(RagloomError, ValueError):
    pass


class IndexError_(RagloomError):
    pass


class ContextLengthExceededError(ConfigError):
    """A prompt plus ``max_tokens`` does not fit the model's context window: the input is too long (a client
    error, which ``ragloom serve`` answers with 400 ``context_length_exceeded``)."""


class DocumentError(RagloomError, ValueError):
    """A file could not be read as a document; ``reason`` is one of encrypted, corrupt, empty, binary,
    unsupported (ragloom.documents reports it and skips the file)."""

    def __init__(self, message: str, reason: str = "corrupt", path: str = "") -> None:
        self.reason, self.path = reason, path
        super().__init__(f"{path}: {message}" if path else message)
