"""moto extension for the product's local stack.

Importing this package does not import moto: set MOTO_PORT first (moto's Step
Functions interpreter reads it to reach the local Lambda endpoint), then call
install().
"""

from __future__ import annotations

_installed = False


def install(execute_state_machines: bool = True) -> None:
    """Apply every patch to the moto modules loaded in this process (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.core.config import default_user_config

    if execute_state_machines:
        default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True

    from . import abac, asl_cache, authz, ddb_atomic, identity, lambda_clients, pretoken, signup, stop, trust

    identity.install()
    abac.install()
    pretoken.install()  # after identity: wraps its create_jwt
    trust.install()
    authz.install()
    asl_cache.install()
    lambda_clients.install()
    stop.install()
    ddb_atomic.install()
    signup.install()
    _installed = True
