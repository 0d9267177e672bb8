"""HTTP for the package catalogue and centres' prices. Thin views."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from core.audit import audited
from core.auth import Role, current_actor, public, requires, token_actor
from core.pagination import one_page, page_schema
from packages import schemas as s
from packages import service

packages_blp = Blueprint("packages", __name__, url_prefix="/api/v1/packages", description="The service-package catalogue")
blueprints = [packages_blp]


@packages_blp.route("")
class Packages(MethodView):
    @public
    @packages_blp.arguments(s.PackageQuerySchema, location="query")
    @packages_blp.response(200, page_schema(s.PackageSchema))
    def get(self, query):
        """The 2025 package catalogue, optionally with a centre's prices or only what the calling resident may choose"""
        actor = token_actor() if query["eligible_for"] == "me" else None  # a public list that may depend on who asks
        return one_page(service.list_packages(actor, tier=query["tier"], centre_id=query["centre"],
                                              eligible_for=query["eligible_for"]))


@packages_blp.route("/<code>")
class PackageByCode(MethodView):
    @public
    @packages_blp.arguments(s.PackageDetailQuerySchema, location="query")
    @packages_blp.response(200, s.PackageSchema)
    def get(self, query, code):
        """One package with its service items"""
        return service.get_package(code, centre_id=query["centre"])


@packages_blp.route("/<code>/prices/<int:centre_id>")
class PackagePrice(MethodView):
    @audited("package_price.set")
    @requires(Role.CENTRE_ADMIN)
    @packages_blp.arguments(s.PriceInSchema)
    @packages_blp.response(200, s.PriceSchema)
    def put(self, body, code, centre_id):
        """Set the centre's price of a personalised package (integer fen)"""
        return service.set_price(current_actor(), code=code, centre_id=centre_id, **body)
