"""One model call through litellm, with its usage and cost read from litellm's figures.

What litellm does per call that the gateway spares it, through its own parameters (under
cProfile, pricing an unpriced model took ~30% of a call, the rest request building in a
thread, the SDK request and the logging payload; measured without the profiler, these
settings save ~11% of a call's CPU: `bench/chat_gateway.py`):
- one aiohttp session per event loop shared by every call (`shared_session`), instead of
  litellm looking one up per call; closed by `close_sessions()` when the app stops;
- the provider resolved once per model and API base (`custom_llm_provider` with the bare
  model name), instead of `get_llm_provider` on every call;
- a model litellm has no price for (a local or self-hosted one) registered at zero price
  after its first answer, so its cost calculator finds it at once instead of trying a
  dozen generalisations of the name on every call; a priced model keeps litellm's price.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# No network for the price list: litellm reads its bundled copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import aiohttp
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
            messages=messages,
            tools=tools or None,
            api_base=settings.api_base,
            api_key=key,
            timeout=settings.request_timeout_s,
            max_tokens=settings.max_tokens,
            num_retries=0,
            shared_session=_session(),
            **_provider(model, settings.api_base),
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
    return ModelReply(content if isinstance(content, str) else "", calls, _usage(response, model))


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


_SESSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
    weakref.WeakKeyDictionary()
)


def _session() -> aiohttp.ClientSession:
    """The running loop's shared session for litellm's aiohttp transport (made on first use)."""
    loop = asyncio.get_running_loop()
    found = _SESSIONS.get(loop)
    if found is None or found.closed:
        found = _SESSIONS[loop] = aiohttp.ClientSession()
    return found


async def close_sessions() -> None:
    """Close the running loop's shared session (the app's shutdown)."""
    found = _SESSIONS.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.close()


@lru_cache(maxsize=64)
def _resolved(model: str, api_base: str | None) -> tuple[str, str] | None:
    try:
        name, provider, _key, _base = litellm.get_llm_provider(model=model, api_base=api_base)
    except Exception:  # an unknown provider: litellm says so on the call itself
        return None
    return name, provider


def _provider(model: str, api_base: str | None) -> dict[str, str]:
    """`model` as litellm resolves it (bare name and provider), resolved once."""
    found = _resolved(model, api_base)
    if found is None:
        return {"model": model}
    return {"model": found[0], "custom_llm_provider": found[1]}


_UNPRICED: set[str] = set()
"""Models litellm has no price for, registered with it at zero (bounded: from the settings)."""


def _usage(response: Any, model: str) -> Usage:
    usage = getattr(response, "usage", None)
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    return Usage(
        llm_calls=1,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=int(getattr(usage, "total_tokens", 0) or 0) or prompt + completion,
        cost_usd=_cost(response, model),
    )


def _cost(response: Any, model: str) -> float:
    """litellm's price of `response`: the one it stamped on the response when it answered
    (`_hidden_params["response_cost"]`), else (a rebuilt stream) computed here once more.
    A model it has no price for is registered with litellm at zero, once."""
    stamped = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
    if isinstance(stamped, int | float) and not isinstance(stamped, bool):
        return float(stamped)
    if model in _UNPRICED:
        return 0.0
    try:
        priced = litellm.completion_cost(completion_response=response, model=model)
        return float(priced or 0.0)
    except Exception:  # an unknown model has no price: litellm raises, we count 0
        _unpriced(model)
        return 0.0


def _unpriced(model: str) -> None:
    """Tell litellm `model` costs nothing, so its calculator stops searching for a price."""
    if model in _UNPRICED or len(_UNPRICED) >= 1000:
        return
    _UNPRICED.add(model)
    found = _resolved(model, None)
    provider = found[1] if found else "openai"
    litellm.register_model(
        {
            model: {
                "input_cost_per_token": 0.0,
                "output_cost_per_token": 0.0,
                "cache_creation_input_token_cost": 0.0,  # else litellm warns they default
                "cache_read_input_token_cost": 0.0,
                "litellm_provider": provider,
                "mode": "chat",
            }
        }
    )
