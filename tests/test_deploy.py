"""`make serve`: two Streamlit replicas behind Debian's nginx, on loopback ports, driven by
sessions speaking Streamlit's protocol (attnviz/serve/client.py): every session is served, and
its page, its websocket and its reconnect all reach one replica."""

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run_async

from attnviz.serve.client import Session
from attnviz.serve.launch import ROOT, Served, render_nginx_conf, streamlit_command

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
needs_nginx = pytest.mark.skipif(
    not Path(NGINX).exists(), reason="Debian's nginx is not installed (make test installs it)"
)
SESSIONS = 12  # all on one replica by chance: 2 · 2⁻¹² ≈ 0.05 %


async def one_session(url: str) -> tuple[list[str], str, str, list[str]]:
    """(replicas seen, session id, session id after a reconnect, errors)."""
    async with Session(url) as session:
        run = await session.run("playground")
        first_id = session.session_id
        await session.close()
        await session.connect()  # as the browser after a dropped connection
        rerun = await session.run("playground", {"temperature": 2.0})
        errors = run.errors + rerun.errors + ([] if run.plots and rerun.plots else ["no figure"])
        return session.replicas, first_id, session.session_id, errors


def listening_on(port: int) -> set[str]:
    """The local addresses (hex, as in /proc/net/tcp*) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


LOOPBACK = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it


def test_make_run_binds_loopback_unless_told():
    def recipe(*extra):
        done = subprocess.run(["make", "-n", "run", *extra], cwd=ROOT, capture_output=True)
        return done.stdout.decode()

    assert "-m attnviz.serve" in recipe() and "--address 127.0.0.1" in recipe()
    assert "--address 0.0.0.0" in recipe("ADDRESS=0.0.0.0")
    command = " ".join(streamlit_command(8501, "127.0.0.1"))
    assert "--server.fileWatcherType none" in command  # no watcher walking .venv when served


@needs_nginx
def test_two_replicas_behind_nginx_keep_each_session_on_one():
    with Served(replicas=2, nginx=True, warm_up=False) as served:

        async def everyone():
            return await asyncio.gather(*(one_session(served.url) for _ in range(SESSIONS)))

        results = run_async(everyone())
        for port in [served.port, *served.ports]:  # nginx and both replicas: loopback only
            assert listening_on(port) == {LOOPBACK}
    replicas = {f"127.0.0.1:{port}" for port in served.ports}
    for seen, first_id, later_id, errors in results:
        assert errors == []
        assert len(seen) == 3, seen  # the page, the websocket, the reconnected websocket
        assert len(set(seen)) == 1 and seen[0] in replicas, seen
        assert first_id and later_id == first_id  # the replica that knew the session resumed it
    assert {seen[0] for seen, *_ in results} == replicas  # both replicas took students


def test_nginx_conf_names_every_replica_and_keeps_nginx_variables():
    conf = render_nginx_conf("127.0.0.1:8501", [8601, 8602, 8603], Path("/tmp/p"))
    # the newcomers' pool, and each replica's own group with the other two as backups
    assert conf.count("server 127.0.0.1:86") == 3 + 3 * 3
    assert conf.count(" backup;") == 3 * 2
    assert '"127.0.0.1:8602" replica_8602;' in conf  # the cookie names the replica's group
    assert "listen 127.0.0.1:8501;" in conf and "pid /tmp/p/nginx.pid;" in conf
    settings = [line for line in conf.splitlines() if not line.lstrip().startswith("#")]
    assert not any("${" in line for line in settings)  # every placeholder filled
    assert "proxy_pass http://$replica;" in conf  # nginx's own variables untouched


def test_kubernetes_manifests_keep_students_on_one_pod():
    yaml = pytest.importorskip("yaml")
    text = (ROOT / "deploy" / "k8s" / "attnviz.yaml").read_text("utf-8")
    docs = {d["kind"]: d for d in yaml.safe_load_all(text)}
    assert set(docs) == {"Deployment", "Service", "Ingress"}
    assert docs["Service"]["spec"]["sessionAffinity"] == "ClientIP"
    notes = docs["Ingress"]["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:3] == ["python", "-m", "attnviz.serve"]  # warmed, no file watcher
    assert container["livenessProbe"]["httpGet"]["path"] == "/_stcore/health"
    assert container["startupProbe"]["httpGet"]["path"] == "/_stcore/health"
    # ready while the launcher's server runs warmed: the file it removes while restarting one
    ready_file = container["args"][container["args"].index("--ready-file") + 1]
    assert container["readinessProbe"]["exec"]["command"] == ["test", "-f", ready_file]
