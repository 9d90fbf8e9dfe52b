"""Tool registry: ``@tool`` turns a typed Python function into a model-callable tool.

The JSON schema is generated from the function's signature and the ``Args:`` section of its
docstring through pydantic, so the schema cannot drift from the code. Arguments from a model are
validated against the same pydantic model; a problem comes back as a structured error (which field,
why, allowed values) that the model can read and correct, never as an exception.

A parameter annotated with :class:`ToolContext` receives the caller's context (market provider,
default portfolio, as-of date) and is left out of the schema.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
import time
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from ..errors import InputError, QlworkError


@dataclass
class ToolContext:
    """What a tool may need from its caller besides its arguments.

    ``market`` is a MarketData provider, ``portfolio`` the default portfolio source for the thread
    (path, ``sample:<name>`` or a loaded Portfolio), ``as_of`` the analysis date, ``extra`` anything a
    specific tool needs (kept opaque here). ``paths_allowed`` False (set by a multi-user host such as
    ``qlwork serve``) means tool arguments may not name filesystem paths: only ``sample:<name>``, the
    caller's own file ids and ``kite`` (see :func:`qlwork.tools.context.load_holdings`).
    """

    market: Any = None
    portfolio: Any = None
    as_of: Any = None
    risk_profile: str = "moderate"
    risk_free_rate: float | None = None
    benchmark: str | None = None  # the user's benchmark index (users.toml / thread metadata); None: NIFTY 50
    thread_id: str | None = None
    user_id: str | None = None
    extra: dict = field(default_factory=dict)
    paths_allowed: bool = True


_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters):\s*$")
_ARG_LINE = re.compile(r"^\s{2,}(\w+)(?:\s*\([^)]*\))?:\s*(.*)$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (first paragraph, {param: description})."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    params: dict[str, str] = {}
    section = "description"
    description: list[str] = []
    current: str | None = None
    for line in lines:
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            section = "args" if _ARGS_HEADER.match(line) else "other"
            current = None
            continue
        if section == "description":
            description.append(line)
        elif section == "args":
            m = _ARG_LINE.match(line)
            if m:
                current = m.group(1)
                params[current] = m.group(2).strip()
            elif current and line.strip():
                params[current] += " " + line.strip()
    first_paragraph = "\n".join(description).strip().split("\n\n")[0]
    return " ".join(first_paragraph.split()), params


class ToolArgumentError(QlworkError):
    """Arguments from a model did not match the tool's schema."""


class Tool:
    """A registered tool: name, description, pydantic argument model and the function."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.description, param_docs = parse_docstring(fn.__doc__)
        hints = typing.get_type_hints(fn)
        fields: dict[str, Any] = {}
        self.context_param: str | None = None
        for pname, param in inspect.signature(fn).parameters.items():
            annotation = hints.get(pname, Any)
            if annotation is ToolContext:
                self.context_param = pname
                continue
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[pname] = (annotation, Field(default, description=param_docs.get(pname)))
        self._schemas: dict[bool, dict] = {}
        self.args_model: type[BaseModel] = create_model(  # type: ignore[call-overload]
            f"{self.name}_args", __config__=ConfigDict(extra="forbid"), **fields
        )

    # -- schemas -----------------------------------------------------------------------------
    def parameters_schema(self, strict: bool = False) -> dict:
        """JSON schema of the arguments. ``strict`` gives OpenAI strict-mode form:
        every property required, optional ones nullable, ``additionalProperties: false``.
        Built once per form (pydantic's generation costs milliseconds); callers get a copy."""
        cached = self._schemas.get(strict)
        if cached is None:
            cached = self._schemas[strict] = self._build_schema(strict)
        return copy.deepcopy(cached)

    def _build_schema(self, strict: bool) -> dict:
        schema = self.args_model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        schema["additionalProperties"] = False
        if strict:
            schema = _strictify(schema)
        return schema

    def function_schema(self, strict: bool = False) -> dict:
        """Chat Completions / Assistants ``function`` object."""
        return {"name": self.name, "description": self.description,
                "parameters": self.parameters_schema(strict=strict), **({"strict": True} if strict else {})}

    # -- validation and calling --------------------------------------------------------------
    def validate(self, arguments: str | dict | None) -> dict:
        """Parse and validate arguments (JSON text or dict). Raises ToolArgumentError."""
        if arguments is None or arguments == "":
            arguments = {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError as exc:
                raise ToolArgumentError(
                    f"Arguments for {self.name} are not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.",
                    fix="Send the arguments as one JSON object.", tool=self.name, code="invalid_json",
                ) from exc
        if not isinstance(arguments, dict):
            raise ToolArgumentError(
                f"Arguments for {self.name} must be a JSON object, got {type(arguments).__name__}.",
                fix="Send the arguments as one JSON object.", tool=self.name, code="invalid_json",
            )
        # Strict-mode models send null for omitted optionals; treat null as "use the default".
        fields = self.args_model.model_fields
        cleaned = {k: v for k, v in arguments.items()
                   if not (v is None and k in fields and not fields[k].is_required())}
        try:
            model = self.args_model.model_validate(cleaned)
        except ValidationError as exc:
            raise ToolArgumentError(
                f"Arguments for {self.name} are invalid: " + "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or '(arguments)'}: {e['msg']}" for e in exc.errors()) + ".",
                fix="Correct the listed fields and call the tool again.", tool=self.name,
                code="invalid_arguments", errors=[_describe_error(e, self) for e in exc.errors()],
            ) from exc
        return {name: getattr(model, name) for name in fields}

    def invoke(self, arguments: str | dict | None, context: ToolContext | None = None) -> Any:
        """Validate and call; exceptions propagate (use :meth:`run` for the model-facing form)."""
        kwargs = self.validate(arguments)
        if self.context_param:
            kwargs[self.context_param] = context or ToolContext()
        return self.fn(**kwargs)

    def run(self, arguments: str | dict | None, context: ToolContext | None = None) -> "ToolResult":
        """Validate, call and capture: never raises for bad arguments or tool failures."""
        start = time.perf_counter()
        try:
            output = self.invoke(arguments, context)
            error = None
        except QlworkError as exc:
            output, error = {"error": exc.to_dict()}, exc.to_dict()
        except Exception as exc:  # a tool bug must not crash the run; the model sees it as output
            err = {"type": type(exc).__name__, "message": f"{self.name} failed: {exc}",
                   "fix": "Try different arguments or another tool."}
            output, error = {"error": err}, err
        return ToolResult(self.name, output, error, time.perf_counter() - start)


@dataclass
class ToolResult:
    """Outcome of one tool call: JSON-serialisable ``output``, ``error`` dict or None, seconds."""

    name: str
    output: Any
    error: dict | None
    duration: float

    def output_json(self) -> str:
        return json.dumps(self.output, default=str, ensure_ascii=False)


def _describe_error(err: dict, tool: Tool) -> dict:
    loc = ".".join(map(str, err.get("loc", ())))
    out = {"field": loc or "(arguments)", "problem": err.get("msg"), "kind": err.get("type")}
    if err.get("type") == "extra_forbidden":
        out["allowed_fields"] = sorted(tool.args_model.model_fields)
    if "input" in err and err.get("type") != "missing":
        out["got"] = err["input"] if isinstance(err["input"], (str, int, float, bool, type(None))) else str(err["input"])
    expected = (err.get("ctx") or {}).get("expected")
    if expected:
        out["allowed"] = expected
    return out


def _strictify(schema: dict) -> dict:
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                props = node["properties"]
                required = set(node.get("required", []))
                for key, prop in props.items():
                    prop.pop("default", None)
                    if key not in required and not _is_nullable(prop):
                        props[key] = {"anyOf": [prop, {"type": "null"}], **(
                            {"description": prop.pop("description")} if "description" in prop else {})}
                node["required"] = list(props)
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


def _is_nullable(prop: dict) -> bool:
    return prop.get("type") == "null" or any(p.get("type") == "null" for p in prop.get("anyOf", []))


class Registry:
    """Named tools. The module-level :data:`REGISTRY` holds qlwork's own function tools."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def add(self, tool_: Tool) -> Tool:
        self._tools[tool_.name] = tool_
        return tool_

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise InputError(f"Unknown tool {name!r}. Available tools: {', '.join(sorted(self._tools))}.",
                             fix="Call one of the available tools.", code="unknown_tool") from None

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self):
        return iter(self._tools.values())


REGISTRY = Registry()


def tool(fn: Callable | None = None, *, name: str | None = None, registry: Registry | None = None):
    """Decorator registering ``fn`` as a tool (in :data:`REGISTRY` unless ``registry`` given)."""

    def wrap(f: Callable) -> Callable:
        t = Tool(f, name=name)
        (registry or REGISTRY).add(t)
        f.tool = t  # type: ignore[attr-defined]
        return f

    return wrap(fn) if fn is not None else wrap
