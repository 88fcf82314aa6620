"""The mockpay command line."""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from .config import Config, load_config


def _services(ctx: click.Context):
    from . import build_services
    obj = ctx.ensure_object(dict)
    if "services" not in obj:
        obj["services"] = build_services(load_config({"data_dir": obj.get("data_dir")}))
    return obj["services"]


def _echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MOCKPAY_DATA_DIR",
              help="Where state, keys and the TLS CA live (env MOCKPAY_DATA_DIR; "
                   "default ~/.local/share/mockpay).")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """mockpay: a local sandbox for the Antom (Alipay) card vaulting APIs."""
    ctx.ensure_object(dict)["data_dir"] = data_dir


# -- serve -----------------------------------------------------------------------

def gunicorn_options(config: Config, tls_files: tuple[Path, Path] | None) -> dict:
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
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8080).")
@click.option("--workers", type=int, help="gunicorn worker processes (default: one per core).")
@click.option("--threads", type=int, help="Threads per worker (default 4).")
@click.option("--tls", is_flag=True, default=None, help="Serve HTTPS with a certificate from mockpay's local CA.")
@click.option("--tls-host", "tls_hosts", multiple=True,
              help="Extra name or IP for the TLS certificate (repeatable); localhost and 127.0.0.1 are always in.")
@click.option("--public-url", help="Base URL for links mockpay hands out (normalUrl); default: the request's host.")
@click.option("--time-scale", type=float, help="Run the mock clock this many times faster than real time.")
@click.pass_context
def serve(ctx, **flags):
    """Run the mock server (gunicorn)."""
    from . import build_services
    from .crypto import ensure_tls

    overrides = {k: v for k, v in flags.items() if v not in (None, ())}
    overrides["data_dir"] = ctx.obj.get("data_dir")
    config = load_config(overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        services = build_services(config)  # create keys, database and CA before workers fork
    except Exception as exc:  # noqa: BLE001 - a clear message, not a traceback
        raise click.ClickException(str(exc)) from None
    tls_files = None
    scheme = "http"
    if config.tls:
        ca, cert, key = ensure_tls(Path(config.data_dir), config.tls_hosts)
        tls_files = (cert, key)
        scheme = "https"
    shown_host = "localhost" if config.host in ("127.0.0.1", "0.0.0.0", "::", "::1") else config.host
    port = "" if (scheme, config.port) in (("https", 443), ("http", 80)) else f":{config.port}"
    click.echo(f"mockpay listening on {scheme}://{shown_host}{port}")
    click.echo(f"data directory: {Path(config.data_dir).resolve()}")
    if config.tls:
        click.echo(f"TLS CA: {ca}  (trust it with SSL_CERT_FILE={ca})")
    client_ids = [row["client_id"] for row in services.clients.list()]
    click.echo("clients: " + (", ".join(client_ids) if client_ids else
                              "none yet (add one: mockpay clients add MY_CLIENT --generate)"))
    sys.stdout.flush()
    services.store.close()
    run_gunicorn(config, gunicorn_options(config, tls_files))


# -- clients ---------------------------------------------------------------------

@main.group()
def clients():
    """Register merchant clients and their keys."""


@clients.command("add")
@click.argument("client_id")
@click.option("--generate", is_flag=True, help="Create a merchant key pair and print the private key.")
@click.option("--public-key", "public_key_file", type=click.File("r"),
              help="Register an existing merchant public key (base64 X.509 SubjectPublicKeyInfo or PEM).")
@click.option("--json", "as_json", is_flag=True, help="Print {clientId, merchantPrivateKey, alipayPublicKey}.")
@click.pass_context
def clients_add(ctx, client_id, generate, public_key_file, as_json):
    """Register CLIENT_ID. Prints the keys in the form DefaultAlipayClient takes."""
    from .clients import ClientError

    if generate == bool(public_key_file):
        raise click.UsageError("give exactly one of --generate or --public-key FILE")
    svc = _services(ctx)
    try:
        client = svc.clients.add(client_id, public_key=public_key_file.read() if public_key_file else None,
                                 generate=generate)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None
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


if __name__ == "__main__":  # pragma: no cover
    main()
