"""The mockpay command line."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from .config import Config, load_config
from .notify import STATUSES as NOTIFICATION_STATUSES
from .state import VAULT_STATUSES
from .text import utf8_ok


def _services(ctx: click.Context):
    from . import build_services
    obj = ctx.ensure_object(dict)
    if "services" not in obj:
        try:
            config = load_config({"data_dir": obj.get("data_dir")})
        except (ValueError, TypeError) as exc:  # a MOCKPAY_* variable: a clear message, as serve gives
            raise click.ClickException(str(exc)) from None
        from .scenarios import ScenarioError
        try:
            # set_clock_scale=False: a command next to a running server must not reset its --time-scale
            obj["services"] = build_services(config, set_clock_scale=False)
        except ScenarioError as exc:  # MOCKPAY_SCENARIOS names an invalid file: its problems, as serve says
            raise click.ClickException(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - not a database, a file where a folder goes, bad keys...
            raise click.ClickException(f"cannot use the data directory {config.data_dir}: {exc}") from None
    return obj["services"]


def _echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


DATA_DIR = click.Path(file_okay=False, path_type=Path)
DATA_DIR_HELP = "Where state, keys and the TLS CA live (env MOCKPAY_DATA_DIR; default $XDG_DATA_HOME/mockpay, else ~/.local/share/mockpay)."


def _data_dir_after_the_command(ctx: click.Context, param, value: Path | None) -> None:
    if value is not None:
        ctx.find_root().ensure_object(dict)["data_dir"] = value


class Command(click.Command):
    """A command whose text arguments are UTF-8: an argument of bytes that are not (Python
    holds them as lone surrogates) is a usage error naming it, before SQLite, the journal or
    a message fails to encode it. File and folder paths may be any bytes."""

    def invoke(self, ctx: click.Context):
        for param in self.params:
            if isinstance(param.type, (click.Path, click.File)):
                continue
            value = ctx.params.get(param.name)
            for item in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(item, str) and not utf8_ok(item):
                    raise click.BadParameter("is not valid UTF-8 text", ctx=ctx, param=param)
        return super().invoke(ctx)


class Commands(click.Group):
    """Every command also takes --data-dir after its name (`mockpay serve --data-dir D`),
    as well as before it (`mockpay --data-dir D serve`); the one after wins."""
    group_class = type  # subgroups (clients, clock, ...) are Commands too
    command_class = Command

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not isinstance(cmd, click.Group):
            cmd.params.append(click.Option(["--data-dir"], type=DATA_DIR, expose_value=False,
                                           callback=_data_dir_after_the_command, help=DATA_DIR_HELP))
        super().add_command(cmd, name)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=DATA_DIR, envvar="MOCKPAY_DATA_DIR", help=DATA_DIR_HELP)
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """mockpay: a local sandbox for the Antom (Alipay) card vaulting APIs."""
    ctx.ensure_object(dict)["data_dir"] = data_dir


# -- serve -----------------------------------------------------------------------

def gunicorn_options(config: Config, tls_files: tuple[Path, Path] | None) -> dict:
    from .body_limit import close_after_large_bodies
    host = f"[{config.host}]" if ":" in config.host else config.host
    workers = config.workers or (os.cpu_count() or 1)
    options = {
        "bind": f"{host}:{config.port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": config.threads,
        "timeout": 120,
        "graceful_timeout": 5,
        "keepalive": 30,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "limit_request_field_size": 16384,
        "pre_request": close_after_large_bodies(config.max_body_bytes),  # proof (issue 7)
    }
    if tls_files:
        options["certfile"], options["keyfile"] = (str(p) for p in tls_files)
    return options


def run_gunicorn(config: Config, options: dict) -> None:
    from gunicorn.app.base import BaseApplication

    class MockpayServer(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from . import create_app
            return create_app(config)

    MockpayServer().run()


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1). Any non-loopback address needs "
                             "MOCKPAY_ADMIN_TOKEN, which then guards /_mockpay/.")
@click.option("--port", type=int, help="Port to listen on (default 8080).")
@click.option("--workers", type=int, help="gunicorn worker processes (default: one per core).")
@click.option("--max-body-bytes", type=click.IntRange(min=1),
              help="Largest request body accepted; a larger one is answered PARAM_ILLEGAL without being read "
                   "(default 1048576; env MOCKPAY_MAX_BODY_BYTES).")
@click.option("--threads", type=int, help="Threads per worker (default 4).")
@click.option("--tls", is_flag=True, default=None, help="Serve HTTPS with a certificate from mockpay's local CA.")
@click.option("--tls-host", "tls_hosts", multiple=True,
              help="Extra name or IP for the TLS certificate (repeatable); localhost and 127.0.0.1 are always in.")
@click.option("--https-port", type=int,
              help="Also serve HTTPS on this port, beside plain HTTP on --port (env MOCKPAY_HTTPS_PORT; "
                   "not with --tls).")
@click.option("--public-url", help="Base URL for links mockpay hands out (normalUrl); default: the request's host.")
@click.option("--time-scale", type=float, help="Run the mock clock this many times faster than real time.")
@click.option("--scenarios", "scenarios", multiple=True, type=click.Path(path_type=str),
              help="A scenario file, or a folder of *.yaml files, tried before the built-in catalogue "
                   "(repeatable; env MOCKPAY_SCENARIOS, comma-separated). An invalid file stops the server.")
@click.option("--log-format", type=click.Choice(["text", "json"]),
              help="One line per API call as text (default) or as JSON objects (env MOCKPAY_LOG_FORMAT).")
@click.pass_context
def serve(ctx, **flags):
    """Run the mock server (gunicorn).

    Prints the base URL, the data directory, the CA path when TLS is on and
    the registered client ids, then logs one line per API call on stderr.
    """
    from . import admin_auth, build_services, logs, serving
    from .crypto import ensure_tls, tls_name

    overrides = {k: v for k, v in flags.items() if v not in (None, ())}
    overrides["data_dir"] = ctx.obj.get("data_dir")
    try:
        config = load_config(overrides)
        admin_auth.check_bind(config)
        if config.tls or config.https_port:
            for host in config.tls_hosts:  # refused before the data directory is made
                tls_name(host)
        logs.configure(config.log_format)
    except (ValueError, TypeError) as exc:  # a clear message, not a traceback
        raise click.ClickException(str(exc)) from None
    if config.tls and config.https_port:
        raise click.UsageError("--tls makes the one listener HTTPS; --https-port adds an HTTPS listener beside "
                               "HTTP. Use one of them.")
    try:
        services = build_services(config)  # create keys, database and CA before workers fork
    except Exception as exc:  # noqa: BLE001 - a clear message, not a traceback
        raise click.ClickException(str(exc)) from None
    ca = tls_files = None
    if config.tls or config.https_port:
        try:  # damaged CA files: named, not a traceback
            ca, cert, key = ensure_tls(Path(config.data_dir), config.tls_hosts)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        tls_files = (cert, key)
    shown_host = "localhost" if config.host in ("127.0.0.1", "0.0.0.0", "::", "::1") else config.host

    def url(scheme: str, port: int) -> str:
        shown_port = "" if (scheme, port) in (("https", 443), ("http", 80)) else f":{port}"
        return f"{scheme}://{shown_host}{shown_port}"

    urls = [url("https" if config.tls else "http", config.port)]
    if config.https_port:
        urls.append(url("https", config.https_port))
    client_ids = [row["client_id"] for row in services.clients.list()]
    n_files = sum(1 for s in services.scenarios.sets if s.source != "mockpay/default_scenarios.yaml")
    if config.log_format == "json":
        click.echo(json.dumps({"event": "mockpay.started", "urls": urls,
                               "dataDir": str(Path(config.data_dir).resolve()),
                               "caPath": str(ca) if ca else None, "clients": client_ids,
                               "scenarioRules": len(services.scenarios.rules), "scenarioFiles": n_files,
                               "adminToken": bool(config.admin_token)}))
    else:
        click.echo("mockpay listening on " + " and ".join(urls))
        click.echo(f"data directory: {Path(config.data_dir).resolve()}")
        if ca:
            click.echo(f"TLS CA: {ca}  (trust it with SSL_CERT_FILE={ca})")
        click.echo(f"scenarios: {len(services.scenarios.rules)} rules"
                   + (f" ({n_files} file(s) before the built-in catalogue)" if n_files else " (built-in catalogue)"))
        click.echo("clients: " + (", ".join(client_ids) if client_ids else
                                  "none yet (add one: mockpay clients add MY_CLIENT --generate)"))
        if config.admin_token:
            click.echo("admin API: /_mockpay/ needs the admin token (Authorization: Bearer ...)")
    sys.stdout.flush()
    services.store.close()
    logger_class = logs.gunicorn_logger_class(config.log_format)
    main_options = gunicorn_options(config, tls_files if config.tls else None)
    main_options["logger_class"] = logger_class
    if not config.https_port:
        run_gunicorn(config, main_options)
        return
    https_options = gunicorn_options(config.replace(port=config.https_port), tls_files)
    https_options["logger_class"] = logger_class
    sys.exit(serving.supervise([lambda: run_gunicorn(config, main_options),
                                lambda: run_gunicorn(config, https_options)]))


# -- clients ---------------------------------------------------------------------

@main.group()
def clients():
    """Register merchant clients and their keys."""


@clients.command("add")
@click.argument("client_id")
@click.option("--generate", is_flag=True, help="Create a merchant key pair and print the private key.")
@click.option("--public-key", "public_key_file", type=click.File("r", errors="replace"),  # binary: "not base64"
              help="Register an existing merchant public key (base64 X.509 SubjectPublicKeyInfo or PEM).")
@click.option("--json", "as_json", is_flag=True, help="Print {clientId, merchantPrivateKey, alipayPublicKey}.")
@click.pass_context
def clients_add(ctx, client_id, generate, public_key_file, as_json):
    """Register CLIENT_ID. Prints the keys in the form DefaultAlipayClient takes."""
    from .clients import ClientError

    if generate == bool(public_key_file):
        raise click.UsageError("give exactly one of --generate or --public-key FILE")
    svc = _services(ctx)
    replacing = svc.clients.get(client_id) is not None
    try:
        client = svc.clients.add(client_id, public_key=public_key_file.read() if public_key_file else None,
                                 generate=generate)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None
    if replacing:
        click.echo(f"warning: {client_id} was already registered; its key is replaced, and the keys "
                   "printed for it before no longer work", err=True)
    if as_json:
        out = {"clientId": client["clientId"], "alipayPublicKey": client["alipayPublicKey"]}
        if generate:
            out["merchantPrivateKey"] = client["merchantPrivateKey"]
        _echo_json(out)
        return
    click.echo(f"client id:            {client['clientId']}")
    if generate:
        click.echo(f"merchant private key: {client['merchantPrivateKey']}")
    click.echo(f"alipay public key:    {client['alipayPublicKey']}")
    click.echo("\nfrom com.alipay.ams.api.default_alipay_client import DefaultAlipayClient\n"
               f"client = DefaultAlipayClient(\"https://localhost\", \"{client['clientId']}\", "
               "MERCHANT_PRIVATE_KEY, ALIPAY_PUBLIC_KEY)")


@clients.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def clients_list(ctx, as_json):
    """List registered clients."""
    svc = _services(ctx)
    rows = [svc.clients.describe(r) for r in svc.clients.list()]
    if as_json:
        _echo_json({"clients": rows})
        return
    for r in rows:
        click.echo(f"{r['clientId']:<40} {'key registered' if r['publicKey'] else 'no key'}  {r['createdAt']}")


@clients.command("show")
@click.argument("client_id")
@click.pass_context
def clients_show(ctx, client_id):
    """Print one client as JSON, with its merchant private key if mockpay generated it."""
    svc = _services(ctx)
    row = svc.clients.get(client_id)
    if row is None:
        raise click.ClickException(f"no client {client_id!r}")
    _echo_json(svc.clients.describe(row, with_private_key=bool(row["merchant_private_key"])))


# -- notify (issue 4): notifications and the mock clock -------------------------------------
# These work on the data directory directly; a running server's dispatchers pick up
# what falls due (or is resent) within one dispatch interval.

def _clock_out(clock, now: float) -> dict:
    from .clock import iso
    return {"now": iso(now), "epoch": round(now, 3), "scale": clock.scale}


@main.group()
def notifications():
    """Inspect and resend notifyVaulting callbacks."""


@notifications.command("list")
@click.option("--status", type=click.Choice(NOTIFICATION_STATUSES), help="Only this state.")
@click.option("--client-id", help="Only this client.")
@click.option("--vaulting-request-id", help="Only this vaultingRequestId.")
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (what GET /_mockpay/notifications returns).")
@click.pass_context
def notifications_list(ctx, status, client_id, vaulting_request_id, limit, as_json):
    """List notifications, newest first, with every attempt."""
    svc = _services(ctx)
    found = svc.notifier.list(vaulting_request_id=vaulting_request_id, client_id=client_id, status=status,
                              limit=limit)
    if as_json:
        _echo_json({"notifications": found})
        return
    if not found:
        click.echo("no notifications")
        return
    for n in found:
        tail = f"next attempt {n['nextAttemptAt']}" if n["nextAttemptAt"] else (n["deliveredAt"] or "")
        click.echo(f"#{n['id']:<5} {n['status']:<9} {n['clientId']}  {n['vaultingRequestId']}  "
                   f"{n['body']['result']['resultStatus']}  {n['url']}  {tail}".rstrip())
        for a in n["attempts"]:
            if a["state"] in ("scheduled", "sending", "cancelled"):
                outcome = f"{a['state']} for {a['scheduledAt']}"
            else:
                answer = f"HTTP {a['httpStatus']}" if a["httpStatus"] is not None else ""
                problem = a["error"] or "acknowledged"
                outcome = f"{a['sentAt']}  {answer + ': ' if answer else ''}{problem}  {a['latencyMs']:.1f} ms"
            label = "resend" if a["manual"] else f"{a['scheduleIndex']}/{n['maxAttempts']}"
            click.echo(f"       {a['number']:>2}. [{label}] {outcome}")


@notifications.command("resend")
@click.argument("notification_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the notification as JSON.")
@click.pass_context
def notifications_resend(ctx, notification_id, as_json):
    """Send notification NOTIFICATION_ID once more, now (a running server sends it)."""
    from .notify import NotFound
    svc = _services(ctx)
    try:
        n = svc.notifier.resend(notification_id)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        _echo_json(n)
        return
    click.echo(f"notification #{n['id']} queued to be sent again now to {n['url']}")


@main.group()
def clock():
    """Show or advance the mock clock (shared by every worker of the server)."""


@clock.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def clock_show(ctx, as_json):
    """Print the mock time."""
    svc = _services(ctx)
    out = _clock_out(svc.clock, svc.clock.now())
    if as_json:
        _echo_json(out)
    else:
        click.echo(f"{out['now']}  (scale {out['scale']:g})")


@clock.command("advance")
@click.argument("seconds", type=click.FloatRange(min=0))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def clock_advance(ctx, seconds, as_json):
    """Move the mock clock SECONDS forward; what falls due is sent by the running server."""
    svc = _services(ctx)
    try:
        now = svc.clock.advance(seconds)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    out = {**_clock_out(svc.clock, now), "advancedBy": seconds,
           "dueNotificationAttempts": svc.store.count_due_attempts(now)}
    if as_json:
        _echo_json(out)
    else:
        click.echo(f"{out['now']}  (advanced {seconds:g}s; {out['dueNotificationAttempts']} notification "
                   "attempt(s) due)")


# -- scenarios (issue 3) ---------------------------------------------------------------

@main.group()
def scenarios():
    """Scenario files: check them, and list the test-card catalogue."""


@scenarios.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
def scenarios_validate(paths):
    """Check scenario files (or folders of them); print each problem with file, line and rule.

    With no PATH, checks the built-in catalogue. Exits 1 when any file is invalid;
    `mockpay serve --scenarios` refuses to start with the same messages."""
    from .scenarios import BUILTIN_PATH, ScenarioError, load_paths, scenario_files

    files = [str(BUILTIN_PATH)] if not paths else []
    problems = False
    for path in paths:
        if Path(path).is_dir() and scenario_files(path):
            files.extend(str(f) for f in scenario_files(path))
        else:
            files.append(path)
    for f in files:
        try:
            (loaded,) = load_paths([f])
        except ScenarioError as exc:
            problems = True
            for issue in exc.issues:
                click.echo(str(issue), err=True)
            continue
        click.echo(f"ok: {f}: {len(loaded.rules)} rule(s)" + (", with a default" if loaded.default else ""))
    if problems:
        sys.exit(1)


def _table(rows: list[dict]) -> str:
    headers = ("MATCH", "API", "OUTCOME", "DESCRIPTION")
    data = [(r["match"], r["api"], r["outcome"], r["description"] or "") for r in rows]
    widths = [min(max([len(headers[i])] + [len(d[i]) for d in data]), cap) for i, cap in enumerate((34, 22, 56, 0))]
    lines = []
    for row in [headers] + data:
        cells = [row[i].ljust(widths[i]) for i in range(3)] + [row[3]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@scenarios.command("list")
@click.option("--scenarios", "paths", multiple=True, type=click.Path(path_type=str),
              help="Scenario files or folders tried before the built-in catalogue, as `serve --scenarios`.")
@click.option("--client", "client_id", help="Put this client's run-time rule set (from the data directory) first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: sources, rules in order, default.")
@click.pass_context
def scenarios_list(ctx, paths, client_id, as_json):
    """Print the catalogue: every rule in the order it is tried, with what it answers."""
    from .scenarios import ScenarioEngine, ScenarioError

    try:
        if client_id:
            svc = _services(ctx)
            engine = ScenarioEngine(svc.store, paths=paths, keyring=svc.keyring)
        else:
            engine = ScenarioEngine(None, paths=paths)
        catalogue = engine.catalogue(client_id)
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        _echo_json(catalogue)
        return
    click.echo(_table(catalogue["rules"]))
    click.echo(f"\nanything else: {catalogue['default']['outcome']}")


# -- vaults, reset, requests (issue 6, dx-ops) -------------------------------------

def _state_call(fn, *args, **kwargs):
    from .state import StateError
    try:
        return fn(*args, **kwargs)
    except StateError as exc:
        raise click.ClickException(exc.message) from None


@main.group()
def vaults():
    """Look at stored vaults (masked card numbers only)."""


@vaults.command("list")
@click.option("--client-id", help="Only this client's vaults.")
@click.option("--status", type=click.Choice(VAULT_STATUSES), help="Only vaults in this status.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print {\"vaults\": [...]} as the admin API does.")
@click.pass_context
def vaults_list(ctx, client_id, status, limit, as_json):
    """List vaults, newest first."""
    rows = _state_call(_services(ctx).state.vaults, client_id=client_id, status=status, limit=limit)
    if as_json:
        _echo_json({"vaults": rows})
        return
    if not rows:
        click.echo("no vaults")
        return
    click.echo(f"{'CREATED':<25} {'CLIENT':<20} {'VAULTING REQUEST ID':<36} {'STATUS':<10} {'RESULT':<24} CARD")
    for v in rows:
        card = f"{v['card']['masked']} {v['card']['brand'] or ''}".strip()
        click.echo(f"{v['createdAt']:<25} {v['clientId']:<20} {v['vaultingRequestId']:<36} {v['status']:<10} "
                   f"{v['vaultingResultCode'] or v['result']['resultCode']:<24} {card}")


@vaults.command("show")
@click.argument("vaulting_request_id")
@click.option("--client-id", help="Whose vault, when several clients used the same VAULTING_REQUEST_ID.")
@click.option("--json", "as_json", is_flag=True, help="Print the vault as JSON (the admin API's form).")
@click.pass_context
def vaults_show(ctx, vaulting_request_id, client_id, as_json):
    """Show one vault by VAULTING_REQUEST_ID."""
    v = _state_call(_services(ctx).state.vault, vaulting_request_id, client_id=client_id)
    if as_json:
        _echo_json(v)
        return
    lines = [
        ("vaulting request id", v["vaultingRequestId"]), ("client", v["clientId"]), ("status", v["status"]),
        ("result", f"{v['result']['resultStatus']} {v['result']['resultCode']}"),
        ("vaulting result", f"{v['vaultingResultCode']} {v['vaultingResultMessage'] or ''}".strip()),
        ("card", f"{v['card']['masked']} {v['card']['brand'] or ''}".strip()),
        ("fingerprint", v["card"]["fingerprint"]), ("card token", v["cardToken"]),
        ("notification url", v["notificationUrl"]), ("redirect url", v["redirectUrl"]),
        ("metadata", v["metadata"]), ("created", v["createdAt"]), ("updated", v["updatedAt"]),
    ]
    if v["challenge"]:
        lines += [("challenge", v["challenge"]["id"]), ("challenge expires", v["challenge"]["expiresAt"])]
    for label, value in lines:
        if value is not None:
            click.echo(f"{label + ':':<21}{value}")


@main.command()
@click.option("--client-id", help="Reset only this client's state; without it, everything is reset.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
@click.option("--json", "as_json", is_flag=True, help="Print {\"reset\", \"deleted\": {table: rows}}.")
@click.pass_context
def reset(ctx, client_id, yes, as_json):
    """Delete recorded state: vaults, the request journal, notifications, sessions,
    card tokens, run-time scenario sets: every per-client table. Registered
    clients, keys, the clock and `serve --scenarios` files are kept."""
    what = f"client {client_id}'s state" if client_id else "ALL recorded state"
    if not yes and not click.confirm(f"Delete {what}?", default=False):
        raise click.Abort()
    out = _state_call(_services(ctx).state.reset, client_id)
    if as_json:
        _echo_json(out)
        return
    total = sum(out["deleted"].values())
    detail = ", ".join(f"{n} {t}" for t, n in out["deleted"].items() if n)
    click.echo(f"reset {'all' if client_id is None else client_id}: {total} rows deleted"
               + (f" ({detail})" if detail else ""))


@main.command()
@click.option("--client-id", help="Only calls with this client-id.")
@click.option("--path", help="Only calls to this path (a GLOB pattern when it holds *).")
@click.option("--api", help="Only calls to this API (vaultPaymentMethod, inquireVaulting, ...).")
@click.option("--vaulting-request-id", help="Only calls about this vaultingRequestId.")
@click.option("--result-code", help="Only calls answered with this result code.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True,
              help="Print {\"requests\": [...]} with the (masked) request and response bodies.")
@click.pass_context
def requests(ctx, client_id, path, api, vaulting_request_id, result_code, limit, as_json):
    """Show the request journal: the API calls the mock answered, newest first."""
    entries = _services(ctx).journal.entries(client_id=client_id, path=path, api=api,
                                             vaulting_request_id=vaulting_request_id, result_code=result_code,
                                             limit=limit)
    if as_json:
        _echo_json({"requests": entries})
        return
    if not entries:
        click.echo("no requests")
        return
    for e in entries:
        click.echo(f"{e['time']}  {e['method']} {e['path']}  client={e['clientId'] or '-'}  "
                   f"result={e['resultCode'] or e['httpStatus']}  {e['latencyMs']:.1f}ms"
                   + (f"  vaultingRequestId={e['vaultingRequestId']}" if e["vaultingRequestId"] else ""))


if __name__ == "__main__":  # pragma: no cover
    main()
