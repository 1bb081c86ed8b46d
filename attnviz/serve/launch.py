"""Start the app for visitors: Streamlit replicas on loopback, warmed, and nginx in front of them.

`make run` is one replica on PORT, warmed before the first visitor; `make serve REPLICAS=N` is N
replicas on PORT+100.. behind nginx on PORT (deploy/nginx.conf.template), sessions sticky to one
replica. The same code starts the servers of the load tool and of the deploy test.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from attnviz import shipped
from attnviz.serve.http import healthy

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
NGINX_TEMP = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
# Served, not developed: no file watcher (it would walk the 5 500 folders of .venv), no usage
# statistics, no browser opened.
SERVE_FLAGS = ("--server.headless", "true", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false")  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def streamlit_command(port: int, address: str) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(shipped.app_script()),
            "--server.port", str(port), "--server.address", address, *SERVE_FLAGS]  # fmt: skip


def wait_healthy(base: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not healthy(base):
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before serving")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{base} was not healthy within {timeout:.0f} s")
        time.sleep(0.05)


async def warm(base: str) -> list[str]:
    """One run of every page that loads a model, as a first visitor would, so that the models are
    loaded, the first traces cached and the imports done before anyone arrives; and every sample
    photo's trace (a class that opens the samples together would otherwise wait in turn behind
    their forwards: 40 students on two fresh replicas measured p95 1.5-1.65 s, 0.78-0.83 s
    warmed). Returns errors."""
    from attnviz.serve.client import Session  # imports streamlit: after the servers started

    errors = []
    for lang, page in (("en", "text"), ("en", "image"), ("zh", "text"), ("en", "playground")):
        async with Session(base, lang=lang) as session:
            errors += [f"{page} ({lang}): {e}" for e in (await session.run(page)).errors]
            if page == "image":
                for photo in session.widgets["image_sample"].options[1:]:  # the first: done
                    run = await session.run(page, {"image_sample": photo})
                    errors += [f"{page} {photo}: {e}" for e in run.errors]
    return errors


def render_nginx_conf(listen: str, ports: list[int], prefix: Path, user: str = "") -> str:
    """deploy/nginx.conf.template for replicas on 127.0.0.1:`ports`: one pool for newcomers and,
    for every replica, a group of its own (the others as its backups) that its cookie names."""
    addresses = {port: f"127.0.0.1:{port}" for port in ports}

    def server(address: str, extra: str = "") -> str:
        return f"        server {address} max_fails=3 fail_timeout=10s{extra};"

    replicas = [
        "\n".join(
            [f"    upstream replica_{port} {{", server(address)]
            + [server(other, " backup") for other in addresses.values() if other != address]
            + ["        keepalive 8;", "    }"]
        )
        for port, address in addresses.items()
    ]
    # safe_substitute: nginx's own $variables pass through untouched.
    return string.Template(TEMPLATE.read_text("utf-8")).safe_substitute(
        listen=listen,
        servers="\n".join(map(server, addresses.values())),
        routes="\n".join(f'        "{a}" replica_{port};' for port, a in addresses.items()),
        replicas="\n".join(replicas),
        prefix=str(prefix),
        user=user,
    )


class Served:
    """`replicas` Streamlit processes (warmed), and nginx in front of them when `nginx` is set.

    A context manager: everything it started is stopped on exit. `url` is where visitors go,
    `procs` the processes started (replicas, then nginx).
    """

    def __init__(
        self,
        replicas: int = 1,
        port: int | None = None,
        address: str = "127.0.0.1",
        nginx: bool = False,
        warm_up: bool = True,
        quiet: bool = True,
    ):
        self.replicas, self.address, self.nginx, self.warm_up = replicas, address, nginx, warm_up
        self.port = port or free_port()
        self.quiet = quiet
        self.procs: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.prefix: Path | None = None
        self.url = f"http://{'127.0.0.1' if address in ('0.0.0.0', '::') else address}:{self.port}"

    def _popen(self, command: list[str]) -> subprocess.Popen:
        out = subprocess.DEVNULL if self.quiet else None
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if self.replicas > 1:  # the cores shared out: N processes of N torch threads would fight
            threads = str(max(1, (os.cpu_count() or 1) // self.replicas))
            env.setdefault("OMP_NUM_THREADS", threads)
        # cwd: the entry script's folder, whose .streamlit/config.toml Streamlit reads
        cwd = shipped.app_script().parent
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=out)
        self.procs.append(proc)
        return proc

    def __enter__(self) -> Served:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        if self.nginx:
            self.ports = [self.port + 100 + i for i in range(self.replicas)]
            if any(not _port_free(p) for p in self.ports):
                self.ports = [free_port() for _ in range(self.replicas)]
            bases = [f"http://127.0.0.1:{p}" for p in self.ports]
            addresses = ["127.0.0.1"] * self.replicas  # replicas only ever on loopback
        else:
            self.ports, bases, addresses = [self.port], [self.url], [self.address]
        pairs = zip(self.ports, addresses, strict=True)
        procs = [self._popen(streamlit_command(port, address)) for port, address in pairs]
        for base, proc in zip(bases, procs, strict=True):
            wait_healthy(base, proc)
        if self.warm_up:
            import asyncio  # imported once the servers are starting: it takes a while

            for base in bases:
                # A page that fails (a model package not installed) says so to its visitors;
                # the rest of the app is still served.
                for error in asyncio.run(warm(base)):
                    print(f"attnviz: warming {base}: {error}", file=sys.stderr, flush=True)
        if self.nginx:
            self._start_nginx()

    def _start_nginx(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.prefix = Path(tempfile.mkdtemp(prefix="attnviz-nginx-"))
        user = ""
        if os.geteuid() == 0:
            # Run as root, nginx's workers drop to nobody: they must reach the temp folders.
            nobody = pwd.getpwnam("nobody")
            user = f"user nobody {_group_name(nobody.pw_gid)};"
            self.prefix.chmod(0o755)
        for name in NGINX_TEMP:
            (self.prefix / name).mkdir()
            if user:
                os.chown(self.prefix / name, nobody.pw_uid, nobody.pw_gid)
        conf = self.prefix / "nginx.conf"
        listen = f"{self.address}:{self.port}"
        conf.write_text(render_nginx_conf(listen, self.ports, self.prefix, user))
        command = [nginx, "-p", str(self.prefix), "-c", str(conf),
                   "-e", str(self.prefix / "error.log"), "-g", "daemon off;"]  # fmt: skip
        wait_healthy(self.url, self._popen(command), timeout=30)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        if self.prefix is not None:
            shutil.rmtree(self.prefix, ignore_errors=True)
            self.prefix = None

    def wait(self) -> None:
        """Block until a server exits (or Ctrl-C)."""
        while all(p.poll() is None for p in self.procs):
            time.sleep(0.5)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name
