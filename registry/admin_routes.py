"""HTTP for registry administration (county and centre administrators). Thin: the rules are in registry.admin."""

from __future__ import annotations

from flask import Response, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from core.audit import audited
from core.auth import Role, current_actor, public, requires
from core.inputs import takes_files
from core.pagination import PageArgs, one_page, page_schema
from registry import admin, imports, passwords, profiles
from registry import admin_schemas as s

profiles_blp = Blueprint("policy-profiles", __name__, url_prefix="/api/v1/policy-profiles",
                         description="Pooling regions' signing and payment rules, versioned")
blueprints = [profiles_blp]


@profiles_blp.route("")
class Profiles(MethodView):
    @public
    @profiles_blp.arguments(PageArgs, location="query")
    @profiles_blp.response(200, page_schema(s.ProfileSchema))
    def get(self, query):
        """The policy profiles, each as its version in force today"""
        return profiles.listed(**query)

    @audited("profile.load")
    @requires(Role.ADMIN)
    @profiles_blp.arguments(s.ProfileLoadSchema)
    @profiles_blp.response(201, s.ProfileVersionSchema)
    @profiles_blp.alt_response(200, schema=s.ProfileVersionSchema, description="The same profile and date: already loaded")
    def post(self, body):
        """Load a policy profile as a new version from a date (a typo is a 422 naming the field)"""
        version, created = admin.load_profile(current_actor(), profile=body["profile"], effective_from=body["effective_from"],
                                              source=body["source"], path="profile")
        return version, 201 if created else 200


@profiles_blp.route("/files")
@takes_files
class ProfileFiles(MethodView):
    @audited("profile.load")
    @requires(Role.ADMIN)
    @profiles_blp.arguments(s.ProfileFileSchema, location="files")
    @profiles_blp.arguments(s.ProfileFileFormSchema, location="form")
    @profiles_blp.response(201, s.ProfileVersionSchema)
    @profiles_blp.alt_response(200, schema=s.ProfileVersionSchema, description="The same profile and date: already loaded")
    def post(self, files, form):
        """Load a policy profile file (JSON or YAML) as a new version from a date, as `flask registry load-profile`
        does (a typo is a 422 naming the field)"""
        upload = files["file"]
        version, created = admin.load_profile(
            current_actor(), profile=profiles.parse_file(upload.read(), upload.filename or "profile.json"),
            effective_from=form["effective_from"], source=form["source"] or upload.filename)
        return version, 201 if created else 200


@profiles_blp.route("/<code>/versions")
class ProfileVersions(MethodView):
    @public
    @profiles_blp.arguments(PageArgs, location="query")
    @profiles_blp.response(200, page_schema(s.ProfileVersionSchema))
    def get(self, query, code):
        """Every version of a profile, oldest first: frozen months are settled under theirs"""
        return profiles.versions(code, **query)


admin_blp = Blueprint("administration", __name__, url_prefix="/api/v1/admin",
                      description="County and centre administration: regions, centres, village clinics, teams, staff, "
                                  "bureau clients")
password_blp = Blueprint("staff-password", __name__, url_prefix="/api/v1/auth", description="Logins: residents, staff, bureau systems")
blueprints += [admin_blp, password_blp]
COUNTY = (Role.ADMIN,)
CENTRE_SIDE = (Role.ADMIN, Role.CENTRE_ADMIN)


def _staff_with_password(pair) -> dict:
    staff, password = pair
    return {**{name: getattr(staff, name) for name in s.StaffSchema().fields}, "one_time_password": password}


def _client_with_secret(pair) -> dict:
    client, secret = pair
    return {**{name: getattr(client, name) for name in s.ClientSchema().fields}, "client_secret": secret}


@password_blp.route("/password")
class Password(MethodView):
    @public
    @password_blp.arguments(s.PasswordChangeSchema)
    @password_blp.response(204)
    def post(self, body):
        """Replace a staff password (required after an administrator set a one-time one)"""
        passwords.change_password(**body)


@admin_blp.route("/regions")
class Regions(MethodView):
    @audited("admin.region.list")
    @requires(*COUNTY)
    @admin_blp.arguments(PageArgs, location="query")
    @admin_blp.response(200, page_schema(s.RegionSchema))
    def get(self, query):
        """The regions the county administrator administers"""
        return admin.regions(current_actor(), **query)

    @audited("admin.region.create")
    @requires(*COUNTY)
    @admin_blp.arguments(s.RegionInSchema)
    @admin_blp.response(201, s.RegionSchema)
    def post(self, body):
        """Add a region (GB/T 2260) under one the administrator administers"""
        return admin.create_region(current_actor(), **body)


@admin_blp.route("/regions/<code>")
class RegionByCode(MethodView):
    @audited("admin.region.update")
    @requires(*COUNTY)
    @admin_blp.arguments(s.RegionUpdateSchema)
    @admin_blp.response(200, s.RegionSchema)
    def patch(self, body, code):
        """Rename a region or set the policy profile it settles under"""
        return admin.update_region(current_actor(), code, **body)


@admin_blp.route("/centres")
class AdminCentres(MethodView):
    @audited("admin.centre.list")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(PageArgs, location="query")
    @admin_blp.response(200, page_schema(s.AdminCentreSchema))
    def get(self, query):
        """The centres the caller administers, with their village clinics and teams"""
        return admin.centres(current_actor(), **query)

    @audited("admin.centre.create")
    @requires(*COUNTY)
    @admin_blp.arguments(s.CentreInSchema)
    @admin_blp.response(201, s.AdminCentreSchema)
    def post(self, body):
        """Add a centre (takes_part=false: a second-level hospital)"""
        return admin.create_centre(current_actor(), **body)


@admin_blp.route("/centres/<int:centre_id>")
class AdminCentreById(MethodView):
    @audited("admin.centre.update")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(s.CentreUpdateSchema)
    @admin_blp.response(200, s.AdminCentreSchema)
    def patch(self, body, centre_id):
        """Change a centre's address, phone, opening hours, location (name and taking part: county only)"""
        return admin.update_centre(current_actor(), centre_id, **body)


@admin_blp.route("/centres/<int:centre_id>/windows")
class AdminWindows(MethodView):
    @audited("admin.window.create")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(s.WindowInSchema)
    @admin_blp.response(201, s.WindowSchema)
    def post(self, body, centre_id):
        """Add a village clinic to the centre's service area"""
        return admin.create_window(current_actor(), centre_id=centre_id, **body)


@admin_blp.route("/windows/<int:window_id>")
class AdminWindowById(MethodView):
    @audited("admin.window.update")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(s.WindowUpdateSchema)
    @admin_blp.response(200, s.WindowSchema)
    def patch(self, body, window_id):
        """Rename or recode a village clinic"""
        return admin.update_window(current_actor(), window_id, **body)


@admin_blp.route("/centres/<int:centre_id>/teams")
class AdminTeams(MethodView):
    @audited("admin.team.create")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(s.TeamInSchema)
    @admin_blp.response(201, s.TeamSchema)
    def post(self, body, centre_id):
        """Add a family-doctor team to a centre"""
        return admin.create_team(current_actor(), centre_id=centre_id, **body)


@admin_blp.route("/teams/<int:team_id>")
class AdminTeamById(MethodView):
    @audited("admin.team.update")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(s.TeamInSchema)
    @admin_blp.response(200, s.TeamSchema)
    def patch(self, body, team_id):
        """Rename a team"""
        return admin.update_team(current_actor(), team_id, **body)


@admin_blp.route("/teams/<int:team_id>/members")
class AdminMembers(MethodView):
    @audited("admin.team_member.list")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(PageArgs, location="query")
    @admin_blp.response(200, page_schema(s.MemberSchema))
    def get(self, query, team_id):
        """A team's members"""
        return admin.team_members(current_actor(), team_id, **query)

    @audited("admin.team_member.create")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(s.MemberInSchema)
    @admin_blp.response(201, s.MemberSchema)
    def post(self, body, team_id):
        """Add a doctor, nurse, public-health worker or village doctor to a team"""
        return admin.add_member(current_actor(), team_id=team_id, **body)


@admin_blp.route("/team-members/<int:member_id>")
class AdminMemberById(MethodView):
    @audited("admin.team_member.update")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(s.MemberUpdateSchema)
    @admin_blp.response(200, s.MemberSchema)
    def patch(self, body, member_id):
        """Change a team member's title, speciality, photo, contact, or retire them (active=false)"""
        return admin.update_member(current_actor(), member_id, **body)


@admin_blp.route("/staff")
class AdminStaff(MethodView):
    @audited("admin.staff.list")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(PageArgs, location="query")
    @admin_blp.response(200, page_schema(s.StaffSchema))
    def get(self, query):
        """The staff accounts the caller administers"""
        return admin.staff_accounts(current_actor(), **query)

    @audited("admin.staff.create")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(s.StaffInSchema)
    @admin_blp.response(201, s.StaffCreatedSchema)
    def post(self, body):
        """Open a staff account with a one-time password (the first login sets a new one)"""
        return _staff_with_password(admin.create_staff(current_actor(), **body))


@admin_blp.route("/staff/<int:staff_id>")
class AdminStaffById(MethodView):
    @audited("admin.staff.update")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(s.StaffUpdateSchema)
    @admin_blp.response(200, s.StaffCreatedSchema)
    def patch(self, body, staff_id):
        """Rename, move, disable or re-enable an account, or reset its password"""
        return _staff_with_password(admin.update_staff(current_actor(), staff_id, **body))


@admin_blp.route("/staff/<int:staff_id>/unlock")
class AdminStaffUnlock(MethodView):
    @audited("admin.staff.unlock")
    @requires(*CENTRE_SIDE)
    @admin_blp.response(200, s.StaffSchema)
    def post(self, staff_id):
        """Lift an account's login lockout, from every address (audited)"""
        return admin.unlock_staff(current_actor(), staff_id)


@admin_blp.route("/api-clients")
class AdminClients(MethodView):
    @audited("admin.api_client.list")
    @requires(*COUNTY)
    @admin_blp.arguments(PageArgs, location="query")
    @admin_blp.response(200, page_schema(s.ClientSchema))
    def get(self, query):
        """The county's bureau API clients"""
        return admin.api_clients(current_actor(), **query)

    @audited("admin.api_client.create")
    @requires(*COUNTY)
    @admin_blp.arguments(s.ClientInSchema)
    @admin_blp.response(201, s.ClientSecretSchema)
    def post(self, body):
        """Give a bureau system credentials (the secret is shown once)"""
        return _client_with_secret(admin.create_client(current_actor(), **body))


@admin_blp.route("/api-clients/<int:client_id>")
class AdminClientById(MethodView):
    @audited("admin.api_client.update")
    @requires(*COUNTY)
    @admin_blp.arguments(s.ClientUpdateSchema)
    @admin_blp.response(200, s.ClientSchema)
    def patch(self, body, client_id):
        """Rename, disable or re-enable a bureau client"""
        return admin.update_client(current_actor(), client_id, **body)


@admin_blp.route("/api-clients/<int:client_id>/secret")
class AdminClientSecret(MethodView):
    @audited("admin.api_client.rotate_secret")
    @requires(*COUNTY)
    @admin_blp.response(201, s.ClientSecretSchema)
    def post(self, client_id):
        """Rotate a client's secret: the old one stops working at once, the new one is shown once"""
        return _client_with_secret(admin.rotate_secret(current_actor(), client_id))


@admin_blp.route("/api-clients/<int:client_id>/unlock")
class AdminClientUnlock(MethodView):
    @audited("admin.api_client.unlock")
    @requires(*COUNTY)
    @admin_blp.response(200, s.ClientSchema)
    def post(self, client_id):
        """Lift the lockout of a client's secret, from every address (audited)"""
        return admin.unlock_client(current_actor(), client_id)


imports_blp = Blueprint("imports", __name__, url_prefix="/api/v1/imports",
                        description="Bulk imports of residents and households from a county system's export")
blueprints.append(imports_blp)


@imports_blp.route("")
@takes_files
class Imports(MethodView):
    @audited("import.start")
    @requires(*CENTRE_SIDE)
    @imports_blp.arguments(s.ImportFileSchema, location="files")
    @imports_blp.arguments(s.ImportFormSchema, location="form")
    @imports_blp.response(202, s.ImportSchema)
    def post(self, files, form):
        """Import residents and households (kind residents) or existing agreements (kind agreements) from CSV or XLSX
        (large files continue in the background)"""
        upload = files["file"]
        return imports.start(current_actor(), centre_id=form["centre_id"], filename=upload.filename or "upload.csv",
                             content=upload.read(), started_by=current_actor().subject, kind=form["kind"])


@imports_blp.route("/<int:import_id>")
class ImportById(MethodView):
    @audited("import.read")
    @requires(*CENTRE_SIDE)
    @imports_blp.response(200, s.ImportSchema)
    def get(self, import_id):
        """An import's status and progress (rows done of total)"""
        return imports.get_import(current_actor(), import_id)


@imports_blp.route("/<int:import_id>/report.csv")
class ImportReport(MethodView):
    @audited("import.report")
    @requires(*CENTRE_SIDE)
    @imports_blp.response(200, {"type": "string"}, content_type="text/csv")
    def get(self, import_id):
        """The refused rows of an import as CSV: row number, column, why"""
        job = imports.get_import(current_actor(), import_id)
        return Response(stream_with_context(imports.report_csv(job)), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename=import-{job.id}-report.csv"})


@admin_blp.route("/hospitals")
class AdminHospitals(MethodView):
    @audited("admin.hospital.list")
    @requires(*COUNTY)
    @admin_blp.arguments(PageArgs, location="query")
    @admin_blp.response(200, page_schema(s.HospitalSchema))
    def get(self, query):
        """The county's secondary and tertiary hospitals ("1+1+1")"""
        return admin.hospitals(current_actor(), **query)

    @audited("admin.hospital.create")
    @requires(*COUNTY)
    @admin_blp.arguments(s.HospitalInSchema)
    @admin_blp.response(201, s.HospitalSchema)
    def post(self, body):
        """Add a secondary or tertiary hospital residents may choose beside their centre"""
        return admin.create_hospital(current_actor(), **body)


@admin_blp.route("/hospitals/<int:hospital_id>")
class AdminHospitalById(MethodView):
    @audited("admin.hospital.update")
    @requires(*COUNTY)
    @admin_blp.arguments(s.HospitalUpdateSchema)
    @admin_blp.response(200, s.HospitalSchema)
    def patch(self, body, hospital_id):
        """Rename, regrade or retire a hospital"""
        return admin.update_hospital(current_actor(), hospital_id, **body)


@admin_blp.route("/communities")
class AdminCommunities(MethodView):
    @audited("admin.community.list")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(PageArgs, location="query")
    @admin_blp.response(200, page_schema(s.CommunitySchema))
    def get(self, query):
        """The functional communities (employers, industrial parks, office buildings) the caller administers"""
        return admin.communities(current_actor(), **query)

    @audited("admin.community.create")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(s.CommunityInSchema)
    @admin_blp.response(201, s.CommunitySchema)
    def post(self, body):
        """Add a functional community a centre signs as a group"""
        return admin.create_community(current_actor(), **body)


@admin_blp.route("/communities/<int:community_id>")
class AdminCommunityById(MethodView):
    @audited("admin.community.update")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(s.CommunityUpdateSchema)
    @admin_blp.response(200, s.CommunitySchema)
    def patch(self, body, community_id):
        """Rename, describe or retire a community; the county administrator may move it to another centre"""
        return admin.update_community(current_actor(), community_id, **body)


@admin_blp.route("/communities/<int:community_id>/members")
class AdminCommunityMembers(MethodView):
    @audited("admin.community.members.read")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(PageArgs, location="query")
    @admin_blp.response(200, page_schema(s.CommunityMemberSchema))
    def get(self, query, community_id):
        """A community's members (audited: names are personal data)"""
        return admin.community_members(current_actor(), community_id, **query)

    @audited("admin.community.members.add")
    @requires(*CENTRE_SIDE)
    @admin_blp.arguments(s.CommunityMembersInSchema)
    @admin_blp.response(200, page_schema(s.CommunityMemberSchema))
    def post(self, body, community_id):
        """Link residents the caller reaches to a community (all or none)"""
        return one_page(admin.add_members(current_actor(), community_id, **body))


@admin_blp.route("/communities/<int:community_id>/members/<int:resident_id>")
class AdminCommunityMember(MethodView):
    @audited("admin.community.members.remove")
    @requires(*CENTRE_SIDE)
    @admin_blp.response(204)
    def delete(self, community_id, resident_id):
        """Unlink a resident from a community (their agreements stay)"""
        admin.remove_member(current_actor(), community_id, resident_id)
