"""Starting the service: settings from the command line and the bureau's config, then uvicorn."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from models.config import load_config
from optimizer.serve.app import Settings, create_app


def settings_for(
    out: Path, data: Path | None, db: str | None, users_file: Path | None, lang: str
) -> Settings:
    """Settings as `patrolopt serve` takes them: store and users file default to OUT's, the
    token lifetime comes from the data folder's `config.toml` (`[serve] token_minutes`)."""
    from optimizer.manifest import USERS_FILE, default_store_url

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


def serve_forever(
    out: Path,
    data: Path | None,
    db: str | None,
    users_file: Path | None,
    host: str,
    port: int,
    lang: str,
) -> None:
    app = create_app(settings_for(out, data, db, users_file, lang))
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
