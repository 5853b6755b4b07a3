"""The local CDN: nginx from Debian's packages, in front of the API, with CloudFront's cache rules.

Its configuration is written from ``chalicelib.caching``, the definition the stack's CloudFront cache
behaviours come from (``infra.stack``), so the two cannot disagree:

- one location per behaviour, in the same order (CloudFront's first match wins, as nginx's regex
  locations do);
- the cache key is the path and the behaviour's query parameters, and only those go on to the API, as
  CloudFront forwards only what is in its key;
- the API's own ``Cache-Control`` says how long (a full change-feed page: a year);
- concurrent requests for a key that is missing or expired make one origin request, as CloudFront
  collapses them: a miss waits for it (``proxy_cache_lock``), an expired copy is answered from the cache
  while it is refreshed (``proxy_cache_use_stale updating``);
- ``If-None-Match`` is answered from the cache, and ``X-Cache`` says HIT, MISS or EXPIRED.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from chalicelib import caching

INSTALL = "sudo apt-get install -y nginx"  # what make run prints where nginx is missing
DEFAULT_PORT = 8002


def nginx_binary() -> str | None:
    """nginx on PATH, or where Debian puts it (/usr/sbin is not on every user's PATH)."""
    found = shutil.which("nginx")
    return found or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


def location_pattern(path: str) -> str:
    """A CloudFront path pattern as an anchored nginx regex: ``*`` is any characters."""
    return "^" + ".*".join(re.escape(part) for part in path.split("*")) + "$"


def _arguments(rule: caching.Behaviour) -> str:
    """The behaviour's query parameters that the request has, as ``name=value&`` each (see the maps)."""
    return "".join(f"$cdn_{name}" for name in rule.query)


def config(api_port: int, port: int, directory: Path) -> str:
    """nginx.conf for a CDN on 127.0.0.1:``port`` in front of the API on ``api_port``."""
    names = sorted({name for rule in caching.BEHAVIOURS for name in rule.query})
    maps = "\n".join(f'  map $arg_{name} $cdn_{name} {{ "" ""; default "{name}=$arg_{name}&"; }}' for name in names)
    locations = []
    for rule in (*caching.BEHAVIOURS, caching.DEFAULT):
        where = "/" if rule.path == "*" else f"~ {location_pattern(rule.path)}"
        arguments = _arguments(rule)
        locations.append(
            f"    location {where} {{\n"
            f'      proxy_cache_key "$cdn_path?{arguments}";\n'
            f"      proxy_pass http://api$cdn_path?{arguments};\n"
            "    }"
        )
    temp = "\n".join(
        f"  {kind}_temp_path {directory / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # nginx started as root hands its workers to nobody, who cannot open a private temp directory
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""# Written by devstack/cdn.py from chalicelib/caching.py: edit that, not this.
{user}worker_processes 1;
daemon off;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{
  log_format cdn '$request_method $request_uri $status $upstream_cache_status $request_time';
  access_log {directory / "access.log"} cdn;
{temp}
  proxy_cache_path {directory / "cache"} levels=1:2 keys_zone=cdn:16m max_size=512m inactive=1h use_temp_path=off;
  # the path as the client sent it (nginx's $uri is decoded); the API checks it
  map $request_uri $cdn_path {{ "~^(?<path>[^?]*)" $path; }}
{maps}
  upstream api {{ server 127.0.0.1:{api_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_cache cdn;
    proxy_cache_methods GET HEAD;
    proxy_cache_lock on;
    proxy_cache_lock_timeout 10s;
    proxy_cache_use_stale updating;
    proxy_cache_revalidate on;
    add_header X-Cache $upstream_cache_status always;
{chr(10).join(locations)}
  }}
}}
"""


class LocalCdn:
    """nginx, started and ready on construction; ``stop`` ends it (by its own PID)."""

    def __init__(self, nginx: str, api_port: int, port: int, directory: Path, startup_timeout_s: float = 20) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.url, self.directory = f"http://127.0.0.1:{port}", directory
        conf = directory / "nginx.conf"
        conf.write_text(config(api_port, port, directory))
        log = (directory / "nginx.out").open("ab")
        command = [nginx, "-c", str(conf), "-p", str(directory), "-e", str(directory / "error.log")]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + startup_timeout_s
        while not _listening(port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not start: {(directory / 'error.log').read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish the requests under way
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def cache_counts(access_log: Path, since_line: int = 0) -> tuple[int, int]:
    """(hits, requests) the CDN logged after ``since_line``: what it answered itself, of all it was asked."""
    lines = access_log.read_text().splitlines()[since_line:] if access_log.exists() else []
    return sum(1 for line in lines if line.split()[3] == "HIT"), len(lines)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
