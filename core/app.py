"""The app factory: config, database, API, blueprints, CLI."""

from __future__ import annotations

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
    """`<int:…>` path ids within the database's integer range: a larger one names nothing (404, not 500)."""

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
    return app


def _register_blueprints(api: Api) -> None:
    from notifications.routes import blueprints as notification_blueprints
    from packages.routes import blueprints as packages_blueprints
    from signing.routes import blueprints as signing_blueprints
    from signing.settlement_routes import blueprints as settlement_blueprints

    for blueprint in signing_blueprints + settlement_blueprints + packages_blueprints + notification_blueprints:
        api.register_blueprint(blueprint)


def _register_cli(app: Flask) -> None:
    from core.cli import db_cli
    from notifications.cli import notifications_cli, scheduler_cli
    from packages.cli import packages_cli
    from signing.cli import demo_cli, signing_cli
    from signing.settlement_cli import settlement_cli

    app.cli.add_command(db_cli)
    app.cli.add_command(signing_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(packages_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(notifications_cli)
    app.cli.add_command(settlement_cli)
