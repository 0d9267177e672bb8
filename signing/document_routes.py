"""HTTP for the agreement text and each agreement's document (HTML, PDF). Thin: signing/documents.py renders."""

from __future__ import annotations

import marshmallow as ma
from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields

from core import audit
from core.audit import audited
from core.auth import STAFF, Role, current_actor, public, requires
from core.schemas import ID, Integer, region_code
from signing import documents

documents_blp = Blueprint("agreement-documents", __name__, url_prefix="/api/v1", description="The agreement's text and documents")
blueprints = [documents_blp]


class TextQuerySchema(ma.Schema):
    centre_id = Integer(load_default=None, validate=ID, metadata={"description": "for the centre's package prices"})
    region = region_code(load_default=None, metadata={"description": "a region's text (a centre gives its own)"})


class PackageTextSchema(ma.Schema):
    code = fields.String(required=True)
    tier = fields.String(required=True)
    title = fields.String(required=True)
    items = fields.List(fields.String(), required=True)
    price_fen = Integer(allow_none=True, metadata={"description": "null: the centre does not offer it"})


class AgreementTextSchema(ma.Schema):
    version = fields.String(required=True, metadata={"description": "the consent_version a signing sends"})
    title = fields.String(required=True)
    centre_id = Integer(allow_none=True)
    centre_name = fields.String(allow_none=True)
    region_code = fields.String(allow_none=True)
    renewal = fields.String(allow_none=True, metadata={"description": "how the region's agreements renew"})
    resident_rights = fields.List(fields.String(), required=True)
    resident_duties = fields.List(fields.String(), required=True)
    centre_duties = fields.List(fields.String(), required=True)
    packages = fields.List(fields.Nested(PackageTextSchema), required=True)


@documents_blp.route("/agreement-text")
class AgreementText(MethodView):
    @public
    @documents_blp.arguments(TextQuerySchema, location="query")
    @documents_blp.response(200, AgreementTextSchema)
    def get(self, query):
        """The current agreement text: version, rights and duties, the packages and their services"""
        return documents.agreement_text(**query)


def _document(agreement_id: int, kind: str) -> Response:
    sheet = documents.sheet(current_actor(), agreement_id)
    audit.record("agreement.document", "agreement", agreement_id, format=kind)
    if kind == "pdf":
        return Response(documents.pdf(sheet), mimetype="application/pdf",
                        headers={"Content-Disposition": f"inline; filename=agreement-{agreement_id}.pdf"})
    return Response(documents.html(sheet), mimetype="text/html")


@documents_blp.route("/agreements/<int:agreement_id>/document.pdf")
class AgreementPdf(MethodView):
    @audited("agreement.document")
    @requires(Role.RESIDENT, *STAFF)
    @documents_blp.response(200, {"type": "string", "format": "binary"}, content_type="application/pdf")
    def get(self, agreement_id):
        """The agreement as a PDF in Chinese (a resident their own, staff their centre's)"""
        return _document(agreement_id, "pdf")


@documents_blp.route("/agreements/<int:agreement_id>/document.html")
class AgreementHtml(MethodView):
    @audited("agreement.document")
    @requires(Role.RESIDENT, *STAFF)
    @documents_blp.response(200, {"type": "string"}, content_type="text/html")
    def get(self, agreement_id):
        """The agreement as an HTML page in Chinese"""
        return _document(agreement_id, "html")
