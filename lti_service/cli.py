"""The ``lti-service`` command line (interface, see design.md §4)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from lti_service.config import ConfigError, Settings, load_settings
from lti_service.db import make_engine, make_session_factory, session_scope


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _check_frameworks(settings: Settings) -> None:
    """Validate the frameworks before starting a server: a broken file is one clear line
    (file:line), not a traceback from every worker that fails to boot."""
    from lti_service.assessment import frameworks

    frameworks.use_directory(settings.frameworks_dir)
    try:
        frameworks.registry()
    except frameworks.FrameworkError as exc:
        raise click.ClickException(f"framework file refused: {exc}") from exc


def _factory(settings: Settings):  # type: ignore[no-untyped-def]
    settings.ensure_instance_dir()
    return make_session_factory(make_engine(settings.effective_database_url))


@click.group()
def main() -> None:
    """Quality Club LTI 1.3 tool: run the server, manage platforms, keys and the database."""


# --------------------------------------------------------------------------- server
@main.command()
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
def demo(port: int, host: str) -> None:
    """Everything on embedded defaults: SQLite in instance/, keys, the demo LMS, one process."""
    os.environ["LTI_SERVICE_DEMO_LMS"] = "1"
    settings = _settings(demo_lms=True, port=port)
    _check_frameworks(settings)
    settings.ensure_instance_dir()
    from lti_service.migrate import upgrade

    upgrade(settings.effective_database_url)
    from lti_service.app import create_app

    app = create_app(settings)
    # Grade sync: the worker runs in-process here (a daemon thread on the app's database).
    from lti_service.worker import start_in_thread

    start_in_thread(settings, app.extensions["lti_service"]["session_factory"],
                    app.config["SECRET_KEY"])
    base = settings.effective_base_url
    click.echo(f"Quality Club demo running: tool {base}/  ·  demo LMS {base}/demo-lms/")
    click.echo("Press Ctrl+C to stop.")
    app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)


@main.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--threads", default=1, show_default=True, type=int,
              help="Threads per worker; above 1 uses gthread workers (keep-alive). Sync "
                   "workers spend less CPU per request, measured in benchmarks/launch.")
def serve(bind: str, workers: int, threads: int) -> None:
    """Production-style server (gunicorn) on the configured database."""
    settings = _settings()
    try:
        settings.require_production_values()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    _check_frameworks(settings)
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:  # pragma: no cover - gunicorn is a dependency
        from lti_service.app import create_app

        host, _, port = bind.rpartition(":")
        create_app(settings).run(host=host or "127.0.0.1", port=int(port), threaded=True)
        return

    class _App(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", bind)
            self.cfg.set("workers", workers)
            if threads > 1:
                self.cfg.set("worker_class", "gthread")
                self.cfg.set("threads", threads)
            self.cfg.set("accesslog", None)
            self.cfg.set("keepalive", 5)

        def load(self) -> Any:
            from lti_service.app import create_app

            return create_app(settings)

    _App().run()


# --------------------------------------------------------------------------- database
@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Run the migrations up to REVISION."""
    from lti_service.migrate import upgrade

    settings = _settings()
    settings.ensure_instance_dir()
    upgrade(settings.effective_database_url, revision)
    click.echo("database is up to date")


# --------------------------------------------------------------------------- platforms
@main.group()
def platform() -> None:
    """Platform registrations (LMSs allowed to launch the tool)."""


@platform.command("add")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--auth-login-url", required=True)
@click.option("--auth-token-url", required=True)
@click.option("--key-set-url", required=True)
@click.option("--deployment-id", "deployment_ids", multiple=True, required=True)
@click.option("--auth-audience", default=None)
@click.option("--name", default="")
def platform_add(issuer: str, client_id: str, auth_login_url: str, auth_token_url: str,
                 key_set_url: str, deployment_ids: tuple[str, ...], auth_audience: str | None,
                 name: str) -> None:
    """Register a platform by hand; it is active at once. Prints the registration id."""
    from lti_service.registrations import RegistrationInput, add_registration

    data = RegistrationInput(
        issuer=issuer, client_id=client_id, auth_login_url=auth_login_url,
        auth_token_url=auth_token_url, key_set_url=key_set_url,
        deployment_ids=list(deployment_ids), auth_audience=auth_audience, name=name,
    )
    try:
        data.validate()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    factory = _factory(_settings())
    try:
        with session_scope(factory) as session:
            registration = add_registration(session, data)
            reg_id = registration.id
    except IntegrityError as exc:
        raise click.ClickException(
            f"a registration for issuer {issuer} and client id {client_id} already exists"
        ) from exc
    click.echo(reg_id)


@platform.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def platform_list(as_json: bool) -> None:
    """Every registration with its deployments and state."""
    from lti_service.models import Registration

    factory = _factory(_settings())
    rows: list[dict[str, Any]] = []
    with session_scope(factory) as session:
        for reg in session.scalars(select(Registration).order_by(Registration.id)):
            rows.append({
                "id": reg.id, "name": reg.name, "issuer": reg.issuer,
                "client_id": reg.client_id, "state": reg.state,
                "deployments": [{"deployment_id": d.deployment_id, "active": d.active}
                                for d in reg.deployments],
                "last_launch_at": reg.last_launch_at.isoformat() if reg.last_launch_at else None,
            })
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no platforms registered")
    for row in rows:
        deps = ", ".join(f"{d['deployment_id']}{'' if d['active'] else ' (inactive)'}"
                         for d in row["deployments"]) or "-"
        click.echo(f"{row['id']:>4}  {row['state']:<8}  {row['issuer']}  client_id="
                   f"{row['client_id']}  deployments: {deps}")


def _set_state(reg_id: int, active: bool, deployment_ids: tuple[str, ...]) -> None:
    from lti_service.registrations import set_registration_state

    factory = _factory(_settings())
    try:
        with session_scope(factory) as session:
            set_registration_state(session, reg_id, active, list(deployment_ids))
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc


@platform.command("activate")
@click.argument("reg_id", type=int)
@click.option("--deployment-id", "deployment_ids", multiple=True,
              help="Activate only these deployments (default: the registration and all).")
def platform_activate(reg_id: int, deployment_ids: tuple[str, ...]) -> None:
    """Allow launches from a registration (and its deployments)."""
    _set_state(reg_id, True, deployment_ids)
    click.echo(f"registration {reg_id} activated")


@platform.command("deactivate")
@click.argument("reg_id", type=int)
@click.option("--deployment-id", "deployment_ids", multiple=True,
              help="Deactivate only these deployments (default: the whole registration).")
def platform_deactivate(reg_id: int, deployment_ids: tuple[str, ...]) -> None:
    """Refuse launches from a registration (or some of its deployments)."""
    _set_state(reg_id, False, deployment_ids)
    click.echo(f"registration {reg_id} deactivated")


# --------------------------------------------------------------------------- operators
@main.group()
def admin() -> None:
    """Operator accounts for the registrations console (/console/)."""


@admin.command("create")
@click.argument("username")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input (for scripts).")
def admin_create(username: str, password_stdin: bool) -> None:
    """Create an operator account; the password is stored as an Argon2id hash."""
    from lti_service.operators import OperatorError, create_operator

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    factory = _factory(_settings())
    try:
        with session_scope(factory) as session:
            create_operator(session, username, password)
    except OperatorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"operator {username} created; sign in at /console/")


# --------------------------------------------------------------------------- keys
@main.group()
def keys() -> None:
    """The tool's signing keys."""


@keys.command("list")
def keys_list() -> None:
    """Every published key: the active one and retired ones still published."""
    from lti_service.lti.keys import published_keys

    factory = _factory(_settings())
    with session_scope(factory) as session:
        found = published_keys(session)
        if not found:
            click.echo("no keys yet (made on first start, or by `keys rotate`)")
        for key in found:
            retired = f" retired {key.retired_at.isoformat()}" if key.retired_at else ""
            click.echo(f"{key.kid}  {key.state:<8} created {key.created_at.isoformat()}{retired}")


@keys.command("rotate")
def keys_rotate() -> None:
    """Make a new signing key; the previous one stays published until deleted."""
    from lti_service.lti.keys import create_key

    settings = _settings()
    factory = _factory(settings)
    with session_scope(factory) as session:
        key = create_key(session, settings.resolve_secret_key())
        click.echo(f"new active key {key.kid}")


@keys.command("delete")
@click.argument("kid")
def keys_delete(kid: str) -> None:
    """Stop publishing a retired key."""
    from lti_service.lti.keys import delete_retired

    factory = _factory(_settings())
    with session_scope(factory) as session:
        if not delete_retired(session, kid):
            raise click.ClickException(f"no retired key {kid} (the active key cannot be deleted)")
    click.echo(f"key {kid} deleted")


# --------------------------------------------------------------------------- grade sync
@main.command()
@click.option("--concurrency", type=int, default=None,
              help="Sends in flight at once (default: LTI_SERVICE_WORKER_CONCURRENCY).")
@click.option("--drain", is_flag=True, help="Exit once no score is pending.")
def worker(concurrency: int | None, drain: bool) -> None:
    """The grade-sync worker: sends queued scores to the LMSs until stopped (SIGTERM).

    Several may run at once on PostgreSQL; run one on SQLite."""
    from lti_service.logging_setup import configure_logging
    from lti_service.worker import run_forever

    settings = _settings()
    configure_logging(settings.json_logs, settings.log_level)
    stats = run_forever(settings, concurrency=concurrency, drain=drain)
    if drain:
        click.echo(json.dumps(stats.as_dict()))


@main.group()
def grades() -> None:
    """The grade-sync outbox."""


@grades.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--limit", default=20, show_default=True, help="Failed and dead jobs listed.")
def grades_status(as_json: bool, limit: int) -> None:
    """Scores pending, retrying (with the last failure), sent and dead."""
    from lti_service.grades import status

    factory = _factory(_settings())
    with session_scope(factory) as session:
        counts = status.summary(session)
        problems = status.jobs(session, states=("dead", "pending"), limit=limit * 4)
    problems = [j for j in problems if j.state in ("dead", "retrying")][:limit]
    if as_json:
        click.echo(json.dumps({
            "pending": counts.pending, "retrying": counts.retrying, "sent": counts.sent,
            "dead": counts.dead, "oldest_pending_age_seconds": counts.oldest_pending_age,
            "problems": [{"id": j.id, "state": j.state, "issuer": j.issuer,
                          "course": j.course, "user": j.user_sub, "line_item": j.line_item,
                          "attempts": j.attempts, "status": j.last_status,
                          "kind": j.last_error_kind, "error": j.last_error}
                         for j in problems]}, indent=2))
        return
    age = ("" if counts.oldest_pending_age is None
           else f"  (oldest due {counts.oldest_pending_age:.0f} s ago)")
    click.echo(f"pending {counts.pending}  retrying {counts.retrying}  sent {counts.sent}  "
               f"dead {counts.dead}{age}")
    for j in problems:
        click.echo(f"{j.id:>6}  {j.state:<8} attempts={j.attempts}  {j.issuer}  {j.course}  "
                   f"user={j.user_sub}  {j.line_item}: {j.last_error_kind} {j.last_error}")


@grades.command("retry")
@click.argument("job_ids", nargs=-1, type=int)
@click.option("--failing", is_flag=True,
              help="Also retry now the pending jobs that are waiting after a failure.")
def grades_retry(job_ids: tuple[int, ...], failing: bool) -> None:
    """Re-queue dead jobs (all, or the JOB_IDS given) for the worker."""
    from lti_service.grades import status

    factory = _factory(_settings())
    with session_scope(factory) as session:
        count = status.retry(session, ids=list(job_ids) or None, include_failing=failing)
    click.echo(f"{count} job(s) re-queued")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
