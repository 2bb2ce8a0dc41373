"""python -m tenant_moto --host 127.0.0.1 --port 5123 [--lambda-port 5124]

Serves moto (threaded) with the tenant_moto patches. Prints exactly one line
"ready" on stdout once the socket is listening; exits 0 on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tenant_moto")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, required=True, help="port for the AWS APIs")
    parser.add_argument(
        "--lambda-port",
        type=int,
        default=None,
        help="port of the local Lambda Invoke endpoint (exported as MOTO_PORT)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # Must happen before moto is imported: its Step Functions interpreter invokes
    # Lambda at http://localhost:$MOTO_PORT.
    os.environ["MOTO_PORT"] = str(args.lambda_port if args.lambda_port else args.port)

    import tenant_moto

    tenant_moto.install()

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler
    )

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    sys.stdout.write("ready\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
