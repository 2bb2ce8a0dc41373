"""Step Functions: parse each state machine definition once, not once per execution.

moto's interpreter builds the evaluation tree of a definition (ANTLR parse, then
preprocessing) at the start of every execution; for the onboarding definition that is
most of the emulator's per-execution overhead. The tree is read-only during evaluation:
every execution's state lives in its own Environment (and per-run objects such as the
Parallel state's worker pool are made inside eval), so executions can share one tree.
It is cached by the definition's content hash, so an updated definition is parsed anew."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

# Definitions per process are few (two state machines, plus tests' own); the bound only
# keeps a long-lived emulator from growing without limit.
MAX_ENTRIES = 64

_lock = threading.Lock()
_programs: OrderedDict[str, Any] = OrderedDict()
_parsing: dict[str, threading.Lock] = {}
# Parses done and served from the cache, for tests and diagnostics.
stats = {"parsed": 0, "hits": 0}


def key(definition: str) -> str:
    return hashlib.sha256(definition.encode("utf-8")).hexdigest()


def program_for(definition: str, parse: Any) -> Any:
    """The evaluation tree of `definition`, parsed with `parse` once per content: executions
    starting together wait for the one parse of their definition."""
    k = key(definition)
    with _lock:
        program = _programs.get(k)
        if program is not None:
            _programs.move_to_end(k)
            stats["hits"] += 1
            return program
        parsing = _parsing.setdefault(k, threading.Lock())
    # One parse per definition at a time, outside the cache lock: a parse takes tens of
    # milliseconds and must not hold up executions of other definitions.
    with parsing:
        with _lock:
            program = _programs.get(k)
            if program is not None:
                stats["hits"] += 1
                return program
        try:
            program = parse(definition)[0]
        finally:
            with _lock:
                _parsing.pop(k, None)
        with _lock:
            stats["parsed"] += 1
            _programs[k] = program
            while len(_programs) > MAX_ENTRIES:
                _programs.popitem(last=False)
    return program


def clear() -> None:
    with _lock:
        _programs.clear()
        stats.update(parsed=0, hits=0)


def install() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    if getattr(ExecutionWorker, "_tenant_moto_asl_cache", False):
        return

    def _get_evaluation_entrypoint(self):  # type: ignore[no-untyped-def]
        definition = self._evaluation_details.state_machine_details.definition
        return program_for(definition, AmazonStateLanguageParser.parse)

    ExecutionWorker._get_evaluation_entrypoint = _get_evaluation_entrypoint  # type: ignore[method-assign]
    ExecutionWorker._tenant_moto_asl_cache = True  # type: ignore[attr-defined]
