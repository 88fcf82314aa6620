"""mockpay: a local sandbox server that emulates the Antom card vaulting APIs.

create_app() is the only place that wires the collaborators together; they are
kept in app.extensions["mockpay"].
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from . import admin_auth, notify
from .api import admin, dashboard, docs, gateway, hosted, pages, payment_methods, vaults
from .card_tokens import CardTokens
from .clients import Clients
from .clock import Clock
from .config import Config, load_config
from .crypto import Keyring
from .journal import Journal
from .notify import Dispatcher, Notifier
from .scenarios import ScenarioEngine
from .sessions import VaultingSessions
from .state import State
from .store import Store
from .vaulting import Vaulting

__all__ = ["create_app", "build_services", "Services", "Config", "load_config"]


@dataclass
class Services:
    """The collaborators of one app (or one CLI command)."""
    config: Config
    store: Store
    clock: Clock
    keyring: Keyring
    clients: Clients
    scenarios: ScenarioEngine
    card_tokens: CardTokens
    vaulting: Vaulting
    sessions: VaultingSessions
    notifier: Notifier
    dispatcher: Dispatcher
    journal: Journal
    state: State

    def advance_clock(self, seconds: float) -> float:
        """Move the mock clock forward (every worker sees it) and send what fell due now,
        in the background. Raises ValueError for a negative or too large advance."""
        now = self.clock.advance(seconds)
        self.dispatcher.wake()
        return now


def build_services(config: Config, set_clock_scale: bool = True) -> Services:
    """The collaborators, wired. `set_clock_scale=False` (CLI commands run next to a
    server) leaves the shared clock's scale as the server set it. Raises
    ScenarioError if a scenario file is invalid."""
    data_dir = Path(config.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(config.db_path)
    clock = Clock(store, scale=config.time_scale if set_clock_scale else None)
    keyring = Keyring(data_dir)
    clients = Clients(store, keyring, clock)
    scenarios = ScenarioEngine(store, paths=config.scenarios, keyring=keyring)
    card_tokens = CardTokens(store, clock, keyring, scenarios, config)
    vaulting = Vaulting(store, clock, keyring, scenarios, config, card_tokens=card_tokens)
    sessions = VaultingSessions(store, clock, keyring, scenarios, vaulting, config)
    notifier = Notifier(store, clock, keyring, config)
    # every final vault enqueues its notifyVaulting in the transaction that made it final
    vaulting.final_listeners.append(notifier.on_final)
    dispatcher = Dispatcher(notifier, config)
    # 3DS challenges left open past challenge_ttl fail by themselves, and so are notified
    dispatcher.add_task(vaulting.expire_challenges)
    # -- developer experience (issue 6, dx-ops) --
    journal = Journal(store, clock, config.journal_cap)
    state = State(store, clients, vaulting)
    return Services(config=config, store=store, clock=clock, keyring=keyring, clients=clients,
                    scenarios=scenarios, card_tokens=card_tokens, vaulting=vaulting, sessions=sessions,
                    notifier=notifier, dispatcher=dispatcher, journal=journal, state=state)


def create_app(config: Config | dict | None = None) -> Flask:
    if not isinstance(config, Config):
        config = load_config(config)
    admin_auth.check_bind(config)  # issue 6, dx-ops: no open admin API beyond loopback
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.config["TESTING"] = config.testing
    app.json.sort_keys = False
    services = build_services(config)
    app.extensions["mockpay"] = services

    # the AMS APIs, each under the three prefixes (signature check, envelope, signed answers)
    gateway.init_app(app)
    gateway.register_api(app, vaults.bp)            # vaultPaymentMethod, inquireVaulting, createVaultingSession
    gateway.register_api(app, payment_methods.bp)   # cacheCard
    # pages a buyer's browser sees
    app.register_blueprint(hosted.bp)               # the card-binding page at createVaultingSession's normalUrl
    app.register_blueprint(pages.bp)                # 3DS challenge pages
    # /_mockpay/: admin API, OpenAPI document and docs
    app.register_blueprint(admin.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(dashboard.bp)            # the dashboard: HTML pages at /_mockpay/ui
    # wake the dispatcher after a request enqueued a notification; start it (one thread per worker)
    notify.init_app(app, services.notifier, services.dispatcher)
    admin_auth.init_app(app, config.admin_token)  # issue 6, dx-ops: /_mockpay/ needs the token when one is set
    logging.getLogger("mockpay").setLevel(logging.INFO)
    return app
