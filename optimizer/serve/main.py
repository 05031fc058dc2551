"""Starting the service: settings from the command line and the bureau's config, then uvicorn."""

from __future__ import annotations

from pathlib import Path

import uvicorn
from fastapi import FastAPI

from models.config import load_config
from optimizer.manifest import USERS_FILE, default_store_url
from optimizer.serve.app import create_app
from optimizer.serve.deps import Settings


def settings_for(
    out: Path, data: Path | None, db: str | None, users_file: Path | None, lang: str
) -> Settings:
    """Settings as `patrolopt serve` takes them: store and users file default to OUT's, the
    token lifetime comes from the data folder's `config.toml` (`[serve] token_minutes`)."""
    if not out.is_dir():
        raise FileNotFoundError(f"--out {out}: no such output folder")
    if data is not None and not data.is_dir():
        raise FileNotFoundError(f"--data {data}: no such data folder")
    config = load_config(data / "config.toml" if data else None)
    return Settings(
        out=out,
        db=db or default_store_url(out),
        users_file=users_file or out / USERS_FILE,
        data=data,
        token_minutes=config.serve.token_minutes,
        lang=lang,
    )


def server_config(app: FastAPI, host: str, port: int, forwarded_allow_ips: str) -> uvicorn.Config:
    """uvicorn's configuration of the service. `X-Forwarded-For` and `X-Forwarded-Proto` are
    taken only from the addresses in `forwarded_allow_ips` (comma-separated; empty trusts no
    one, whatever uvicorn's default or `FORWARDED_ALLOW_IPS` say): a header from anyone else
    could make each login guess look like a new client to the throttle."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        server_header=False,
        proxy_headers=bool(forwarded_allow_ips),
        forwarded_allow_ips=forwarded_allow_ips,
    )


def serve_forever(
    out: Path,
    data: Path | None,
    db: str | None,
    users_file: Path | None,
    host: str,
    port: int,
    lang: str,
    forwarded_allow_ips: str = "",
) -> None:
    app = create_app(settings_for(out, data, db, users_file, lang))
    uvicorn.Server(server_config(app, host, port, forwarded_allow_ips)).run()
