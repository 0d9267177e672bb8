"""The app factory: wires the domains (core → registry → packages → signing → care → notifications →
settlement) into one Flask app: config, database, API, blueprints, CLI, scheduled jobs and events.

Only this module imports every domain; each domain imports only those to its left.
"""

from __future__ import annotations

import importlib
import logging

import swagger_ui_bundle
from flask import Flask, send_from_directory
from flask_smorest import Api
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from core import auth, crypto, db, errors, inputs, limits, observability
from core.config import ROOT, Settings

API_TITLE = "jiayi — family-doctor signing service"
SWAGGER_ASSETS = "/docs/assets/"


class JiayiApi(Api):
    ERROR_SCHEMA = errors.ErrorSchema


class RowId(IntegerConverter):
    """`<int:…>` path ids within the database's integer range: a larger one names nothing (404, not 500).

    ASCII digits only: werkzeug's \\d+ would read /residents/٤٣ as resident 43.
    """

    regex = r"[0-9]+"

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", db.DB_INT_MAX)
        super().__init__(url_map, *args, **kwargs)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = Flask(__name__, instance_path=str(ROOT / "instance"), static_folder=None)
    app.config.update(
        SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.MAX_CONTENT_LENGTH,
        API_TITLE=API_TITLE,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        # Served from the installed bundle, not a CDN: intranets have no internet.
        OPENAPI_SWAGGER_UI_URL=SWAGGER_ASSETS,
    )
    if settings.TRUSTED_PROXY_HOPS:  # behind nginx: the client address is the one the proxy saw
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.TRUSTED_PROXY_HOPS)
    logging.basicConfig(level=logging.INFO)
    observability.init_app(app)  # first: its request timer and id see every request, even one refused early
    app.json.ensure_ascii = False  # JSON is UTF-8: 张三, not \u5f20\u4e09
    crypto.configure(settings)

    engine = db.make_engine(settings.DATABASE_URL)
    db.session.remove()
    db.session.configure(bind=engine)
    app.extensions["engine"] = engine
    app.teardown_appcontext(lambda _exc: db.session.remove())

    api = JiayiApi(app, spec_kwargs={"info": {"description": "Residents, family doctors and insurance bureaus."}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    app.url_map.converters["int"] = RowId
    api.register_converter(RowId, lambda converter: {"type": "integer", "minimum": 0, "maximum": converter.max})
    import_models()
    _register_blueprints(api)
    errors.register(app)
    inputs.init_app(app)
    app.after_request(auth.no_store_unless_public_read)
    limits.init_app(app)

    @app.get(SWAGGER_ASSETS + "<path:filename>")
    def swagger_assets(filename):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)

    swagger_assets.access_roles = frozenset({"public"})
    for endpoint, view in app.view_functions.items():
        app.view_functions[endpoint] = db.retrying(view)
        if endpoint.startswith("api-docs."):  # the spec and Swagger UI are open, like the assets
            app.view_functions[endpoint].access_roles = frozenset({"public"})
    _register_cli(app)
    app.extensions["jobs"] = scheduled_jobs()
    _connect_events()
    return app


# Every domain's tables, so Base.metadata is complete (for Alembic and the app).
MODEL_MODULES = ("core.models", "core.lockout", "core.sessions", "registry.models", "packages.models", "signing.models",
                 "care.models", "care.delivery_models", "care.fulfilment_models", "notifications.models", "settlement.models")


def import_models() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)


def _register_blueprints(api: Api) -> None:
    from care.calls_routes import blueprints as calls
    from care.delivery_routes import blueprints as care_delivery
    from care.fulfilment_routes import blueprints as fulfilment
    from care.messages_routes import blueprints as team_messages
    from care.routes import blueprints as care
    from notifications.routes import blueprints as notifications
    from packages.routes import blueprints as packages
    from registry.admin_routes import blueprints as registry_admin
    from registry.insurance_routes import blueprints as registry_insurance
    from registry.newborn_routes import blueprints as registry_newborns
    from registry.routes import blueprints as registry
    from settlement.routes import blueprints as settlement
    from settlement.survey_routes import blueprints as surveys
    from signing.document_routes import blueprints as signing_documents
    from signing.forms_routes import blueprints as signing_forms
    from signing.routes import blueprints as signing

    for blueprint in (registry + registry_admin + registry_insurance + registry_newborns + packages + signing
                      + signing_forms + signing_documents + care + care_delivery + fulfilment + calls + team_messages + notifications
                      + settlement + surveys):
        api.register_blueprint(blueprint)


def _register_cli(app: Flask) -> None:
    from care.cli import care_cli
    from core.cli import db_cli
    from core.scheduler import scheduler_cli
    from demo.cli import demo_cli
    from notifications.cli import notifications_cli
    from registry.cli import registry_cli
    from settlement.cli import settlement_cli
    from signing.cli import signing_cli

    for group in (db_cli, demo_cli, registry_cli, signing_cli, care_cli, scheduler_cli, notifications_cli, settlement_cli):
        app.cli.add_command(group)


def scheduled_jobs() -> list:
    """Every domain's jobs.py JOBS, in the order they are listed here."""
    from core.jobs import JOBS as core
    from notifications.jobs import JOBS as notifications
    from registry.jobs import JOBS as registry
    from settlement.jobs import JOBS as settlement
    from signing.jobs import JOBS as signing

    return [*core, *registry, *signing, *notifications, *settlement]


def _connect_events() -> None:
    """Cross-domain steps that point right-to-left are signals: connected here, not by import side effects."""
    from care import plans
    from core import observability
    from notifications import attendance
    from notifications.metrics import outbox_gauges
    from registry import insurance, populations
    from registry.metrics import import_gauges
    from settlement import rosters
    from signing import access, service
    from signing import imports as signing_imports

    signing_imports.register()  # a kind of file registry.imports takes: the county's existing agreements
    insurance.subscribe()  # the bureau's facts held for an ID number go to the record that gets it
    populations.forget_facts_on_writes()
    observability.add_gauges(outbox_gauges)
    observability.add_gauges(import_gauges)
    plans.subscribe()
    service.subscribe()
    access.subscribe()
    rosters.subscribe()
    attendance.subscribe()
