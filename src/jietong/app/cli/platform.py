"""Platform commands: demo, serve, db upgrade, user create."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from jietong.app.settings import Settings, load_settings

console = Console()
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)

PortOption = Annotated[int | None, typer.Option("--port", help="HTTP port (default 8000).")]
HostOption = Annotated[str | None, typer.Option("--host", help="HTTP bind address.")]
DataDirOption = Annotated[Path | None, typer.Option("--data-dir", help="Data directory.")]


def _settings(
    host: str | None = None, port: int | None = None, data_dir: Path | None = None
) -> Settings:
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["http_host"] = host
    if port is not None:
        overrides["http_port"] = port
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return load_settings(**overrides)


def _serve(settings: Settings) -> None:
    import uvicorn

    from jietong.app.asgi import create_app
    from jietong.app.bootstrap import migrate
    from jietong.app.platform import build_platform

    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    platform = build_platform(settings)
    migrate(platform)
    app = create_app(platform)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        # Every event goes to every connected desk and wallboard: compressing each small
        # frame per connection costs more CPU than it saves on an intranet.
        ws_per_message_deflate=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(user_app, name="user")

    @app.command()
    def version() -> None:
        """Print the Jietong version."""
        from jietong import __version__

        typer.echo(__version__)

    @app.command()
    def serve(
        host: HostOption = None, port: PortOption = None, data_dir: DataDirOption = None
    ) -> None:
        """Serve the platform (migrating the database first)."""
        _serve(_settings(host, port, data_dir))

    @app.command()
    def demo(
        host: HostOption = None, port: PortOption = None, data_dir: DataDirOption = None
    ) -> None:
        """Create (or reuse) the demo organisation on the embedded default and serve it."""
        from jietong.app.bootstrap import DEMO_LOGINS, ensure_demo, migrate
        from jietong.app.platform import build_platform
        from jietong.app.voice_demo import demo_voice_settings, prepare_demo_voice

        settings = demo_voice_settings(_settings(host, port, data_dir))
        platform = build_platform(settings)
        migrate(platform)
        created = ensure_demo(platform)
        phones = prepare_demo_voice(platform)
        platform.close()
        base = f"http://{settings.http_host}:{settings.http_port}"
        console.print(
            f"[bold]Jietong demo[/] ({'created' if created else 'reused'}) "
            f"database: {settings.effective_database_url}"
        )
        table = Table("URL", "what")
        for path, what in (
            ("/login", "sign in (web)"),
            ("/docs", "API reference"),
            ("/openapi.json", "OpenAPI document"),
            ("/healthz", "health"),
        ):
            table.add_row(base + path, what)
        console.print(table)
        logins = Table("username", "password", "role", title="Demo logins")
        for login in DEMO_LOGINS:
            logins.add_row(login.username, login.password, login.role.value)
        console.print(logins)
        console.print(phones)
        _serve(settings)

    @db_app.command("upgrade")
    def db_upgrade(data_dir: DataDirOption = None) -> None:
        """Apply every pending migration (and seal secrets left in plaintext, as `serve`
        does at start-up)."""
        from jietong.app.bootstrap import migrate
        from jietong.app.platform import build_platform
        from jietong.storage.migrate import current_revision

        platform = build_platform(_settings(data_dir=data_dir))
        migrate(platform)
        console.print(f"database at revision {current_revision(platform.engine)}")
        platform.close()

    @user_app.command("create")
    def user_create(
        username: Annotated[str, typer.Argument()],
        role: Annotated[str, typer.Option(help="admin|supervisor|agent|back_office|read_only")],
        org: Annotated[str, typer.Option(help="Organisation slug.")] = "demo",
        display_name: Annotated[str | None, typer.Option()] = None,
        password: Annotated[
            str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
        ] = "",
        create_org: Annotated[
            bool, typer.Option(help="Create the organisation if missing.")
        ] = False,
        data_dir: DataDirOption = None,
    ) -> None:
        """Create a user (and optionally its organisation)."""
        from pydantic import ValidationError

        from jietong.app.platform import build_platform
        from jietong.core.errors import JietongError
        from jietong.core.tenancy import Role, system_actor
        from jietong.org import service as org_service
        from jietong.org.schemas import UserCreate
        from jietong.storage.migrate import upgrade

        platform = build_platform(_settings(data_dir=data_dir))
        upgrade(platform.engine)
        try:
            with platform.uow() as uow:
                found = org_service.find_organisation_by_slug(uow, org)
                if found is None and create_org:
                    found = org_service.create_organisation(uow, slug=org, name=org)
            if found is None:
                raise JietongError(f"no organisation '{org}' (use --create-org)")
            data = UserCreate(
                username=username,
                display_name=display_name or username,
                password=password,
                role=Role(role),
            )
            with platform.uow() as uow:
                view = org_service.create_user(uow, system_actor(found.id), data)
        except (JietongError, ValidationError, ValueError) as exc:
            console.print(f"[red]error:[/] {getattr(exc, 'detail', exc)}")
            raise typer.Exit(2) from None
        finally:
            platform.close()
        console.print(f"created user {view.user.username} ({view.user.role}) id={view.user.id}")
