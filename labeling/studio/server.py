"""Start and stop a local Label Studio (its own virtualenv, .venv-studio) for annotators and tests.

`python -m labeling.studio.server serve` (what `make studio` runs) starts it in the
foreground on loopback with data under data/labelstudio/, creates an admin and an API
token on first start, creates the project, and prints the URL and login. The API key is
stored, readable only by this user, in the data directory (never printed): the
`stance label` commands pick it up from there when LABEL_STUDIO_API_KEY is not set.

The server is closed to other local users: sign-up works only through the organisation's
invite link (`create_annotator`, `stance label add-user`), and the data directory (database,
credentials, media, log) is readable by its owner only (mode 0700/0600, umask 077 for the
server process, so what it creates later is private too).
"""
from __future__ import annotations

import ipaddress
import json
import os
import secrets
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import typer

from labeling.config import PROJECT_ROOT
from labeling.io import atomic_open
from labeling.studio.settings import CREDENTIALS_FILE, Connection, clean_api_key, read_credentials

STUDIO_BIN = PROJECT_ROOT / ".venv-studio" / "bin" / "label-studio"
LOG_FILE = "label-studio.log"
# Files the server creates (database and its journal, media, exports, its secret key) are
# private from the start; what an older setup left readable is tightened by make_private.
SERVER_UMASK = 0o077
# Label Studio refuses to call reserved addresses (its SSRF guard, core.utils.io.validate_ip),
# loopback included, so it could neither reach nor send webhooks to an ML backend on this
# machine (`stance label serve`). When the server listens on loopback, everyone who can use it is
# already on this machine, so 127.0.0.1 opens nothing they could not reach themselves; every
# other reserved network, the rest of 127.0.0.0/8 and ::1 stay refused.
_LS_DEFAULT_BANNED = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "233.252.0.0/24", "240.0.0.0/4",
    "255.255.255.255/32", "::/128", "::1/128", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96",
    "64:ff9b:1::/48", "100::/64", "2001:0000::/32", "2001:20::/28", "2001:db8::/32", "2002::/16",
    "fc00::/7", "fe80::/10", "ff00::/8",
)


def banned_subnets_but_loopback_host() -> str:
    """Label Studio's default banned networks with 127.0.0.1 taken out, as its
    USER_ADDITIONAL_BANNED_SUBNETS value (comma-separated; the defaults are then switched off)."""
    loopback, host = ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32")
    nets = [n for n in _LS_DEFAULT_BANNED if n != str(loopback)]
    nets += sorted(str(n) for n in loopback.address_exclude(host))
    return ",".join(nets)


class ServerError(RuntimeError):
    """The local Label Studio could not be started; the message says why and where the log is."""


@dataclass
class StudioServer:
    """A running local Label Studio started by this process. `repr` hides secrets."""

    url: str
    data_dir: Path
    username: str
    password: str = field(repr=False)
    api_key: str = field(repr=False)
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def connection(self) -> Connection:
        return Connection(url=self.url, api_key=self.api_key)

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop the server's process group (Label Studio forks workers): TERM, then KILL."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout_s)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on host:port."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def make_private(data_dir: Path) -> None:
    """Create `data_dir` if needed and take every group and other permission off it and off
    everything under it (folders 0700, files 0600 as created; symbolic links are not followed).

    A data directory made before the server ran with umask 077 held a world-readable database
    (with the API token in it): this closes it on the next start.
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for root, dirs, files in os.walk(data_dir):
        for name in [".", *dirs, *files]:
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) & 0o077:
                os.chmod(path, stat.S_IMODE(mode) & 0o700)


def ensure_credentials(data_dir: Path, url: str, username: str) -> dict:
    """Read the stored admin credentials, or create them (random password and legacy API token).

    The file is written atomically with mode 0600 in a folder made private (`make_private`);
    the URL is refreshed on every start. Raises ValueError when the stored key is malformed.
    """
    make_private(data_dir)
    creds = read_credentials(data_dir) or {
        "username": username,
        "password": secrets.token_urlsafe(12),
        "api_key": secrets.token_hex(20),
    }
    creds["url"] = url
    creds["api_key"] = clean_api_key(creds.get("api_key") or "", str(data_dir / CREDENTIALS_FILE))
    with atomic_open(data_dir / CREDENTIALS_FILE, private=True) as fh:
        json.dump(creds, fh, indent=2)
    return creds


def _wait_ready(url: str, api_key: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise ServerError(f"Label Studio exited with code {proc.returncode} while starting; log {log}:\n{tail}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                who = httpx.get(f"{url}/api/current-user/whoami", timeout=10,
                                headers={"Authorization": f"Token {api_key}"})
                if who.status_code == 200:
                    return
                raise ServerError(f"Label Studio at {url} is up but rejects the stored API key "
                                  f"(HTTP {who.status_code}); the data dir may come from another setup")
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise ServerError(f"Label Studio at {url} did not become ready within {timeout_s:.0f} s; log {log}")


def start_server(data_dir: Path | str, host: str = "127.0.0.1", port: int | None = None,
                 username: str = "admin@stance.local", timeout_s: float = 180.0) -> StudioServer:
    """Start Label Studio in the background and wait until it answers with the stored key.

    Inputs: data directory (created), bind host (loopback by default), port (free one if None).
    Returns a StudioServer; call .stop(). Raises ServerError when the virtualenv is missing,
    the port is taken, or the server does not come up (the message names the log file).
    """
    if not STUDIO_BIN.exists():
        raise ServerError(f"{STUDIO_BIN} not found: run `make studio-venv` first")
    data_dir = Path(data_dir).resolve()
    port = port or free_port(host)
    if port_in_use(host, port):
        raise ServerError(f"port {port} on {host} is already in use (is Label Studio already running?)")
    url = f"http://{host}:{port}"
    creds = ensure_credentials(data_dir, url, username)
    # Secrets go through the environment, not argv, so they do not show up in `ps`.
    env = dict(os.environ, LABEL_STUDIO_USERNAME=creds["username"], LABEL_STUDIO_PASSWORD=creds["password"],
               LABEL_STUDIO_USER_TOKEN=creds["api_key"], LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
               SENTRY_DSN="", FRONTEND_SENTRY_DSN="", COLLECT_ANALYTICS="false",
               # only the admin and those who come through the invite link (create_annotator)
               LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true")
    if host in ("127.0.0.1", "localhost"):  # the ML backend on 127.0.0.1: see banned_subnets_but_loopback_host
        env.update(USE_DEFAULT_BANNED_SUBNETS="false", USER_ADDITIONAL_BANNED_SUBNETS=banned_subnets_but_loopback_host())
    # An annotator opening a task waits for the ML backend's prediction: 20 s at most with a stuck
    # backend, not Label Studio's default 100 (`stance label connect` asks 100 tasks a request, well within it)
    env.setdefault("ML_TIMEOUT_PREDICT", "20")
    log = data_dir / LOG_FILE
    with open(os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as log_fh:
        proc = subprocess.Popen(
            [str(STUDIO_BIN), "start", "--no-browser", "--internal-host", host, "--port", str(port),
             "--data-dir", str(data_dir), "--enable-legacy-api-token", "--log-level", "WARNING"],
            stdout=log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            cwd=data_dir, start_new_session=True, umask=SERVER_UMASK)
    server = StudioServer(url=url, data_dir=data_dir, username=creds["username"], password=creds["password"],
                          api_key=creds["api_key"], process=proc)
    try:
        _wait_ready(url, creds["api_key"], proc, log, timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


def invite_token(url: str, admin_key: str) -> str:
    """The organisation's invite token (the `?token=` of its invite link), asked for with an
    admin's API key. Raises ServerError naming the URL (never the key) when it is refused."""
    try:
        answer = httpx.get(f"{url}/api/invite", timeout=30,
                           headers={"Authorization": f"Token {clean_api_key(admin_key, 'the admin key')}"})
    except httpx.TransportError as exc:
        raise ServerError(f"cannot reach Label Studio at {url} to get the invite link: {type(exc).__name__}") from None
    if answer.status_code != 200:
        raise ServerError(f"Label Studio at {url} refused the invite link to this API key (HTTP {answer.status_code}); "
                          "use the admin's key (make studio stores it under data/labelstudio/)")
    return answer.json()["token"]


def create_annotator(url: str, email: str, password: str, admin_key: str) -> str:
    """Sign up an annotator through the organisation's invite link (sign-up without it is off)
    and return their API key. Raises ServerError naming the URL when sign-up or login fails."""
    signup = f"/user/signup/?token={invite_token(url, admin_key)}"
    with httpx.Client(base_url=url, follow_redirects=True, timeout=30) as session:
        session.get(signup)
        form = {"email": email, "password": password, "csrfmiddlewaretoken": session.cookies.get("csrftoken", "")}
        posted = session.post(signup, data=form, headers={"Referer": f"{url}{signup}"})
        answer = session.get("/api/current-user/token")
        if answer.status_code != 200:
            # the form answers 200 with its errors (a taken e-mail, a weak password) inside the page
            raise ServerError(f"Label Studio at {url}: could not sign up {email} (sign-up HTTP {posted.status_code}, "
                              f"token HTTP {answer.status_code}; is the e-mail already taken?)")
        return answer.json()["token"]


app = typer.Typer(help="A local Label Studio for annotators (loopback, data under data/labelstudio/).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False)


@app.callback()
def _main() -> None:
    """Keep `serve` an explicit sub-command (Typer collapses single-command apps)."""


@app.command()
def serve(
    config: Path = typer.Option(None, help="Studio settings YAML (default configs/studio.yaml)."),
    port: int = typer.Option(None, help="Port to listen on (default: server_port in the config)."),
) -> None:
    """Start Label Studio in the foreground, create the project, print URL and login; Ctrl-C stops it."""
    from rich.console import Console

    from labeling.schema import annotation_guide_html, load_schema
    from labeling.studio.client import StudioClient, StudioError
    from labeling.studio.config_xml import build_label_config
    from labeling.studio.push import ensure_project, ensure_queue_view, project_settings, sync_project_settings
    from labeling.studio.settings import load_studio_config, resolve_path

    console = Console()
    # Stop the server on Ctrl-C and on `kill` alike (SIGINT is ignored in background jobs).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        cfg = load_studio_config(config)
        with console.status("starting Label Studio (the first start migrates its database: about a minute)"):
            server = start_server(resolve_path(cfg.server_data_dir), cfg.server_host, port or cfg.server_port,
                                  cfg.admin_username, cfg.start_timeout_s)
    except (ServerError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1)
    try:
        client = StudioClient(server.connection, cfg.retries, cfg.retry_backoff_s, cfg.timeout_s)
        schema = load_schema()
        found = client.find_project(cfg.project_title, cfg.project_id)
        shown = (found or {}).get("model_version") or None  # the model whose ticks annotators see
        project, _, _ = ensure_project(client, cfg.project_title, build_label_config(schema, shown), cfg.project_id)
        sync_project_settings(client, project, project_settings(cfg.annotators_per_task, cfg.overlap_share,
                                                                cfg.overlap_first, None, annotation_guide_html(schema)))
        ensure_queue_view(client, project["id"])
        console.print(f"[green]Label Studio is running[/green] at [bold]{server.url}[/bold]"
                      f"  (project {project['title']!r}: {server.url}/projects/{project['id']})")
        console.print(f"log in as [bold]{server.username}[/bold] with password [bold]{server.password}[/bold]; "
                      "sign-up is closed: add annotators with `stance label add-user EMAIL`")
        console.print(f"`stance label ...` finds the API key in {server.data_dir / CREDENTIALS_FILE}; "
                      "press Ctrl-C to stop")
        server.process.wait()
    except StudioError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1)
    except KeyboardInterrupt:
        console.print("stopping Label Studio")
    finally:
        server.stop()


if __name__ == "__main__":
    app()
