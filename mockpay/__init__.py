"""mockpay: a local sandbox server that emulates the Antom card vaulting APIs.

create_app() is the only place that wires the collaborators together; they are
kept in app.extensions["mockpay"].
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from .clients import Clients
from .clock import Clock
from .config import Config, load_config
from .crypto import Keyring
from .notify import Dispatcher, Notifier
from .scenarios import ScenarioEngine
from .store import Store
from .vaulting import Vaulting
# -- sessions & card tokens --
from .card_tokens import CardTokens
from .sessions import VaultingSessions

__all__ = ["create_app", "Config", "load_config"]


@dataclass
class Services:
    config: Config
    store: Store
    clock: Clock
    keyring: Keyring
    clients: Clients
    scenarios: ScenarioEngine
    vaulting: Vaulting
    card_tokens: CardTokens | None = None
    sessions: VaultingSessions | None = None
    notifier: Notifier | None = None
    dispatcher: Dispatcher | None = None


def build_services(config: Config, set_clock_scale: bool = True) -> Services:
    """The collaborators. `set_clock_scale=False` (CLI commands run next to a server)
    leaves the shared clock's scale as the server set it."""
    data_dir = Path(config.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(config.db_path)
    clock = Clock(store, scale=config.time_scale if set_clock_scale else None)
    keyring = Keyring(data_dir)
    clients = Clients(store, keyring, clock)
    scenarios = ScenarioEngine(store, paths=config.scenarios, keyring=keyring)  # ScenarioError if a file is invalid
    # -- sessions & card tokens --
    card_tokens = CardTokens(store, clock, keyring, scenarios, config)
    vaulting = Vaulting(store, clock, keyring, scenarios, config, card_tokens=card_tokens)
    sessions = VaultingSessions(store, clock, keyring, scenarios, vaulting, config)
    # every final vault enqueues its notifyVaulting in the same transaction
    notifier = Notifier(store, clock, keyring, config)
    vaulting.final_listeners.append(notifier.on_final)
    dispatcher = Dispatcher(notifier, config)
    return Services(config=config, store=store, clock=clock, keyring=keyring, clients=clients,
                    scenarios=scenarios, vaulting=vaulting, card_tokens=card_tokens, sessions=sessions,
                    notifier=notifier, dispatcher=dispatcher)


def create_app(config: Config | dict | None = None) -> Flask:
    from . import notify
    from .api import admin, gateway, vaults
    from .api import hosted, payment_methods  # sessions & card tokens
    from .api import pages  # scenarios (issue 3): 3DS challenge pages

    if not isinstance(config, Config):
        config = load_config(config)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.config["TESTING"] = config.testing
    app.json.sort_keys = False
    app.extensions["mockpay"] = build_services(config)

    gateway.init_app(app)
    gateway.register_api(app, vaults.bp)
    app.register_blueprint(admin.bp)
    # -- sessions & card tokens --
    gateway.register_api(app, payment_methods.bp)
    app.register_blueprint(hosted.bp)
    # -- OpenAPI (issue 6, part 5): /_mockpay/openapi.json and /_mockpay/docs --
    from .api import docs
    app.register_blueprint(docs.bp)
    # notify (issue 4): wake the dispatcher after enqueueing; start it (one thread per worker)
    services = app.extensions["mockpay"]
    notify.init_app(app, services.notifier, services.dispatcher)
    app.register_blueprint(pages.bp)  # scenarios (issue 3)
    # -- dashboard (issue 6, part 3): server-rendered pages at /_mockpay/ui --
    from .api import dashboard
    app.register_blueprint(dashboard.bp)
    logging.getLogger("mockpay").setLevel(logging.INFO)
    return app
