"""One model call through litellm, with its usage and cost read from litellm's figures."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# No network for the price list: litellm reads its bundled copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm

from ..settings import LLMSettings
from ..turns import Usage

litellm.suppress_debug_info = True
litellm.telemetry = False


class ModelError(Exception):
    """The model could not be asked or answered nonsense (no secrets in the message)."""


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: object


@dataclass(frozen=True)
class ModelReply:
    content: str
    tool_calls: list[ToolCall]
    usage: Usage


async def complete(
    settings: LLMSettings,
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    on_delta: Callable[[str], None] | None = None,
) -> ModelReply:
    """Ask `model` once; with `on_delta`, stream and hand it each piece of text as it
    comes. `ModelError` names only the failure's kind."""
    key = settings.api_key.get_secret_value() if settings.api_key else None
    stream = on_delta is not None
    try:
        response = await litellm.acompletion(
            model=model,
            messages=messages,
            tools=tools or None,
            api_base=settings.api_base,
            api_key=key,
            timeout=settings.request_timeout_s,
            max_tokens=settings.max_tokens,
            num_retries=0,
            **({"stream": True, "stream_options": {"include_usage": True}} if stream else {}),
        )
        if on_delta is not None:
            response = await _gathered(response, messages, on_delta)
    except ModelError:
        raise
    except Exception as exc:  # litellm maps every provider failure to its own tree
        status = getattr(exc, "status_code", None)
        raise ModelError(f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")) from exc
    try:
        message = response.choices[0].message
    except (AttributeError, IndexError) as exc:
        raise ModelError("the model answered without a choice") from exc
    calls = [
        ToolCall(
            id=str(getattr(c, "id", "") or ""),
            name=str(getattr(c.function, "name", "") or ""),
            arguments=getattr(c.function, "arguments", None),
        )
        for c in (getattr(message, "tool_calls", None) or [])
    ]
    content = getattr(message, "content", None)
    return ModelReply(content if isinstance(content, str) else "", calls, _usage(response))


async def _gathered(
    stream: Any, messages: list[dict[str, Any]], on_delta: Callable[[str], None]
) -> Any:
    """The streamed chunks, each text piece handed to `on_delta`, rebuilt as one response."""
    chunks: list[Any] = []
    async for chunk in stream:
        chunks.append(chunk)
        choices = getattr(chunk, "choices", None) or []
        text = getattr(getattr(choices[0], "delta", None), "content", None) if choices else None
        if isinstance(text, str) and text:
            on_delta(text)
    built = litellm.stream_chunk_builder(chunks, messages=messages)
    if built is None:
        raise ModelError("the model's stream was empty")
    return built


_UNPRICED: set[str] = set()
"""Models litellm has no price for: asked once (it raises, which costs a millisecond a call)."""


def _usage(response: Any) -> Usage:
    usage = getattr(response, "usage", None)
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    return Usage(
        llm_calls=1,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=int(getattr(usage, "total_tokens", 0) or 0) or prompt + completion,
        cost_usd=_cost(response),
    )


def _cost(response: Any) -> float:
    """litellm's price of `response`: the one it stamped on the response when it answered
    (`_hidden_params["response_cost"]`), else (a rebuilt stream) computed here once more."""
    stamped = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
    if isinstance(stamped, int | float) and not isinstance(stamped, bool):
        return float(stamped)
    model = str(getattr(response, "model", "") or "")
    if model in _UNPRICED:
        return 0.0
    try:
        return float(litellm.completion_cost(completion_response=response) or 0.0)
    except Exception:  # an unknown model has no price: litellm raises, we count 0
        if len(_UNPRICED) < 1000:  # names come from the provider: bounded
            _UNPRICED.add(model)
        return 0.0
