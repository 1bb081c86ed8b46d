"""Start the app for visitors: Streamlit replicas on loopback, warmed, and nginx in front of them.

`make run` is one replica on PORT, warmed before the first visitor; `make serve REPLICAS=N` is N
replicas on PORT+100.. behind nginx on PORT (deploy/nginx.conf.template), sessions sticky to one
replica. The same code starts the servers of the load tool and of the deploy test.

Every process is supervised: one that exits (the out-of-memory killer's SIGKILL, a crash) is
started again after a back-off, and meanwhile nginx sends its students to the other replicas.
"""

from __future__ import annotations

import contextlib
import html
import os
import pwd
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
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
# Students per replica before nginx answers "busy, retrying" (each holds one websocket; a few
# more connections for the page's files while it opens). BENCHMARKS.md: a core served ~40 at a
# lecture's pace with p95 <= 1 s.
MAX_CONNS = int(os.environ.get("ATTNVIZ_MAX_CONNS", "64"))
BUSY_RETRY_S = 5
# Restart back-off: 1, 2, 4 ... 30 s between the tries of a process that keeps dying; one that
# ran for STEADY seconds is healthy again and starts from 1 s next time.
BACKOFF_FIRST, BACKOFF_MAX, STEADY = 1.0, 30.0, 60.0


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
    """One run of every page whose first visitor would wait, as that visitor would, so that the
    models are loaded, the first traces cached and the imports done before anyone arrives: the
    generate page's first run (SmolLM2 and its example generation, in each language) took 4.95 s
    and 1.47 s, the heads page's 5.77 s, every other page's 0.05-0.17 s, all of it holding every
    session's turn (attnviz/ui/turns.py). And every sample photo's trace (a class that opens the
    samples together would otherwise wait in turn behind their forwards: 40 students on two fresh
    replicas measured p95 1.5-1.65 s, 0.78-0.83 s warmed). Returns errors."""
    from attnviz.serve.client import Session  # imports streamlit: after the servers started

    errors = []
    pages = (("en", "text"), ("en", "image"), ("zh", "text"), ("en", "playground"),
             ("en", "generate"), ("zh", "generate"), ("en", "heads"))  # fmt: skip
    for lang, page in pages:
        async with Session(base, lang=lang) as session:
            errors += [f"{page} ({lang}): {e}" for e in (await session.run(page)).errors]
            if page == "image":
                for photo in session.widgets["image_sample"].options[1:]:  # the first: done
                    run = await session.run(page, {"image_sample": photo})
                    errors += [f"{page} {photo}: {e}" for e in run.errors]
    return errors


def render_nginx_conf(
    listen: str, ports: list[int], prefix: Path, user: str = "", max_conns: int = MAX_CONNS
) -> str:
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
        max_conns=max_conns * len(ports),
    )


def busy_page() -> str:
    """The page nginx serves when no replica can take a student: both languages (nginx does not
    know the student's), and it loads the page again by itself."""
    from attnviz.i18n import LANGS, t

    retry = f'<meta http-equiv="refresh" content="{BUSY_RETRY_S}">'
    lines = "".join(f"<p lang={lang}>{html.escape(t('serve.busy', lang))}</p>" for lang in LANGS)
    title = html.escape(t("serve.busy_title", "en"))
    return (
        f'<!doctype html><html><head><meta charset="utf-8">{retry}'
        f'<meta name="viewport" content="width=device-width"><title>{title}</title></head>'
        f'<body style="font: 18px sans-serif; margin: 2em">{lines}</body></html>'
    )


class Supervised:
    """One process the launcher keeps running: its command, where its health is read, the
    process now running it, and its restart back-off."""

    def __init__(self, name: str, command: list[str], base: str, warm: bool) -> None:
        self.name, self.command, self.base, self.warm = name, command, base, warm
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.delay = BACKOFF_FIRST
        self.due: float | None = None  # when a process that exited is started again


class Served:
    """`replicas` Streamlit processes (warmed), and nginx in front of them when `nginx` is set.

    A context manager: everything it started is stopped on exit. Meanwhile a supervisor thread
    starts again any process that exits (back-off, a line on stderr), and warms a replica that
    came back. `url` is where visitors go, `procs` the processes running now (replicas, then
    nginx).
    """

    def __init__(
        self,
        replicas: int = 1,
        port: int | None = None,
        address: str = "127.0.0.1",
        nginx: bool = False,
        warm_up: bool = True,
        quiet: bool = True,
        ready_file: Path | None = None,
        max_conns: int = MAX_CONNS,
    ):
        self.max_conns = max_conns
        self.ready_file = ready_file  # exists while every process serves (a readiness probe)
        self.replicas, self.address, self.nginx, self.warm_up = replicas, address, nginx, warm_up
        self.port = port or free_port()
        self.quiet = quiet
        self.supervised: list[Supervised] = []
        self.ports: list[int] = []
        self.prefix: Path | None = None
        self.url = f"http://{'127.0.0.1' if address in ('0.0.0.0', '::') else address}:{self.port}"
        self.restarts = 0  # processes started again since start()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    @property
    def procs(self) -> list[subprocess.Popen]:
        return [s.proc for s in self.supervised if s.proc is not None]

    def _spawn(self, one: Supervised) -> subprocess.Popen:
        out = subprocess.DEVNULL if self.quiet else None
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if self.replicas > 1:  # the cores shared out: N processes of N torch threads would fight
            threads = str(max(1, (os.cpu_count() or 1) // self.replicas))
            env.setdefault("OMP_NUM_THREADS", threads)
        # cwd: the entry script's folder, whose .streamlit/config.toml Streamlit reads.
        # A process group of its own: nginx's workers outlive a master killed with SIGKILL, and
        # the whole group is stopped before a new master binds the port.
        one.proc = subprocess.Popen(
            one.command,
            cwd=shipped.app_script().parent,
            env=env,
            stdout=out,
            stderr=out,
            process_group=0,
        )
        one.started = time.monotonic()
        return one.proc

    def _add(self, name: str, command: list[str], base: str, warm: bool) -> subprocess.Popen:
        one = Supervised(name, command, base, warm)
        self.supervised.append(one)
        return self._spawn(one)

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
        procs = [
            self._add(f"replica {base}", streamlit_command(port, address), base, self.warm_up)
            for port, address, base in zip(self.ports, addresses, bases, strict=True)
        ]
        for base, proc in zip(bases, procs, strict=True):
            wait_healthy(base, proc)
        if self.warm_up:
            for base in bases:
                _warm_and_report(base)
        if self.nginx:
            self._start_nginx()
        self._supervisor = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self._supervisor.start()
        self._mark_ready()

    def _mark_ready(self) -> None:
        """(Re)write the ready file when every process runs; remove it otherwise."""
        if self.ready_file is None:
            return
        if all(one.due is None and one.proc.poll() is None for one in self.supervised):
            self.ready_file.write_text(self.url)
        else:
            self.ready_file.unlink(missing_ok=True)

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
        conf.write_text(render_nginx_conf(listen, self.ports, self.prefix, user, self.max_conns))
        (self.prefix / "busy.html").write_text(busy_page(), "utf-8")
        if user:
            self.prefix.joinpath("busy.html").chmod(0o644)
        command = [nginx, "-p", str(self.prefix), "-c", str(conf),
                   "-e", str(self.prefix / "error.log"), "-g", "daemon off;"]  # fmt: skip
        wait_healthy(self.url, self._add("nginx", command, self.url, False), timeout=30)

    def _supervise(self, every: float = 0.2) -> None:
        """Until stop(): start again every process that exited, after its back-off."""
        while not self._stopping.wait(every):
            now = time.monotonic()
            for one in self.supervised:
                if one.due is None and one.proc.poll() is not None:
                    _end_group(one.proc)
                    if now - one.started > STEADY:
                        one.delay = BACKOFF_FIRST
                    one.due = now + one.delay
                    how = _how(one.proc.returncode)
                    _say(f"{one.name} exited ({how}); starting it again in {one.delay:.0f} s")
                    one.delay = min(one.delay * 2, BACKOFF_MAX)
                    self._mark_ready()
                elif one.due is not None and now >= one.due:
                    one.due = None
                    self.restarts += 1
                    proc = self._spawn(one)
                    threading.Thread(target=self._back, args=(one, proc), daemon=True).start()

    def _back(self, one: Supervised, proc: subprocess.Popen) -> None:
        """Report a restarted process once it serves, and warm it (a replica) as at launch."""
        try:
            wait_healthy(one.base, proc)
        except (RuntimeError, TimeoutError) as exc:
            if not self._stopping.is_set():
                _say(f"{one.name}: {exc}")
            return
        _say(f"{one.name} is back")
        if one.warm and not self._stopping.is_set():
            _warm_and_report(one.base)
        self._mark_ready()

    def stop(self) -> None:
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join()
            self._supervisor = None
        for one in reversed(self.supervised):
            if one.proc.poll() is None:
                one.proc.terminate()
        for one in self.supervised:
            try:
                one.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                one.proc.kill()
                one.proc.wait()
            _end_group(one.proc)
        self.supervised.clear()
        if self.ready_file is not None:
            self.ready_file.unlink(missing_ok=True)
        if self.prefix is not None:
            shutil.rmtree(self.prefix, ignore_errors=True)
            self.prefix = None

    def wait(self) -> None:
        """Block while the supervisor keeps the servers running (until Ctrl-C or SIGTERM)."""
        while self._supervisor is not None and self._supervisor.is_alive():
            self._supervisor.join(0.5)


def _warm_and_report(base: str) -> None:
    import asyncio  # imported once the servers are starting: it takes a while

    # A page that fails (a model package not installed) says so to its visitors; the rest of
    # the app is still served.
    for error in asyncio.run(warm(base)):
        _say(f"warming {base}: {error}")


def _say(line: str) -> None:
    print(f"attnviz: {line}", file=sys.stderr, flush=True)


def _end_group(proc: subprocess.Popen) -> None:
    """Stop what is left of an exited process's group (nginx's orphaned workers)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _how(returncode: int) -> str:
    if returncode < 0:
        return signal.Signals(-returncode).name
    return f"exit status {returncode}"


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
