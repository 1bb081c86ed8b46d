"""`python -m attnviz.serve`: what `make run` and `make serve` start.

python -m attnviz.serve [--port 8501] [--address 127.0.0.1]      one warmed replica
python -m attnviz.serve --replicas N [--port 8501]                N replicas behind nginx
python -m attnviz.serve --replicas N --print-nginx-conf           the nginx file, for a host
python -m attnviz.serve --print-busy-page > /var/lib/attnviz/busy.html   its "busy" page
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from attnviz.serve.launch import Served, busy_page, render_nginx_conf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnviz.serve", description=__doc__)
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument(
        "--address", default="127.0.0.1", help="0.0.0.0 to serve a classroom's network"
    )
    parser.add_argument("--replicas", type=int, default=0, help="N > 0: N replicas behind nginx")
    parser.add_argument("--no-warm", action="store_true", help="skip the warm-up runs")
    parser.add_argument("--print-nginx-conf", action="store_true")
    parser.add_argument("--print-busy-page", action="store_true")
    parser.add_argument(
        "--ready-file",
        type=Path,
        help="exists while every server is up and warm (a readiness probe)",
    )
    args = parser.parse_args(argv)
    if args.print_busy_page:
        print(busy_page())
        return 0
    if args.print_nginx_conf:
        ports = [args.port + 100 + i for i in range(max(args.replicas, 1))]
        print(render_nginx_conf(f"{args.address}:{args.port}", ports, Path("/var/lib/attnviz")))
        return 0
    # SIGTERM (docker stop, Kubernetes) stops the servers as Ctrl-C does; as PID 1 in a container
    # Python would otherwise ignore it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    start = time.perf_counter()
    served = Served(
        replicas=max(args.replicas, 1),
        port=args.port,
        address=args.address,
        nginx=args.replicas > 0,
        warm_up=not args.no_warm,
        quiet=False,
        ready_file=args.ready_file,
    )
    try:
        with served:
            behind = f" ({args.replicas} replicas behind nginx)" if args.replicas else ""
            print(
                f"attnviz ready at {served.url}{behind}, warmed in"
                f" {time.perf_counter() - start:.1f} s",
                flush=True,
            )
            served.wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
