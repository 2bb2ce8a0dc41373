"""Step Functions: a stopped execution stays ABORTED, as in AWS.

moto's interpreter marks the program stopped on StopExecution, but a Map state whose
iterations the stop aborted then fails, and that failure overwrote the stopped state, so
the execution ended FAILED (and a Catch on the Map could even run). In AWS a stopped
execution is ABORTED and runs nothing more: once stopped, a later error is ignored."""

from __future__ import annotations


def install() -> None:
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    if getattr(Environment, "_tenant_moto_stop", False):
        return
    set_error = Environment.set_error

    def keep_stopped(self, error):  # type: ignore[no-untyped-def]
        if isinstance(self.program_state(), ProgramStopped):
            return
        set_error(self, error)

    Environment.set_error = keep_stopped  # type: ignore[method-assign]
    Environment._tenant_moto_stop = True  # type: ignore[attr-defined]
