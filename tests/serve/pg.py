"""A throwaway PostgreSQL cluster on 127.0.0.1 for the storage tests (Debian's binaries, temp dir, free port)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def pg_bin() -> Path | None:
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(cand, "initdb").exists() and Path(cand, "pg_ctl").exists():
            return Path(cand)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_pg_user(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root: use the postgres account when we are root.
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            raise RuntimeError("running as root without runuser; cannot start PostgreSQL")
        return [runuser, "-u", "postgres", "--", *cmd]
    return cmd


@contextmanager
def pg_cluster() -> Iterator[tuple[str, int, Path]]:
    """Yield ``(host, port, bin_dir)`` of a fresh cluster with trust auth for user ``medkit``; stopped on exit."""
    bindir = pg_bin()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    root = Path(tempfile.mkdtemp(prefix="medkit-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C"}
    subprocess.run(_as_pg_user([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "medkit",
                                "--no-sync", "-E", "UTF8"]), check=True, capture_output=True, env=env)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(_as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"),
                                "-w", "-t", "60", "start"]), check=True, capture_output=True, env=env)
    try:
        yield "127.0.0.1", port, bindir
    finally:
        subprocess.run(_as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, env=env)
        shutil.rmtree(root, ignore_errors=True)


def create_database(host: str, port: int, name: str) -> str:
    import psycopg

    with psycopg.connect(host=host, port=port, user="medkit", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://medkit@{host}:{port}/{name}"
