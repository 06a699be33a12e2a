"""REST API of the feedback app: projects, members, items, responses, judgements, leases
and the export.

Thin doors: input serializers check types, ``feedback.selectors`` scope every queryset to
what the user may see (an object of a project one is not in is 404), and the services do
the work, with the same rules as the pages.
"""

import io
from typing import Any

import orjson
from django.contrib.auth.models import User
from django.db.models import Prefetch, QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from core.errors import NotFound, PermissionDenied, ValidationError
from feedback.api import serializers as s
from feedback.export import (
    ExportStream,
    export_params_parse,
    export_row_count,
)
from feedback.export.params import AGGREGATES, FORMATS, MARGIN_MODES, PAIR_MODES, SPLITS
from feedback.models import Item, Judgement, Membership, Project, Response
from feedback.selectors import (
    EXPORTING_ROLES,
    MANAGING_ROLES,
    judgements_for_user,
    project_get_for_user,
    projects_for_user,
    round_response_ids,
)
from feedback.services.assignments import assignment_next, assignment_skip
from feedback.services.imports import items_import
from feedback.services.judgements import judgement_submit
from feedback.services.projects import (
    membership_remove,
    membership_set,
    project_create,
    project_update,
)


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # IsAuthenticated ran first
    return user


def _role(user: User, project: Project) -> str | None:
    if user.is_staff:
        return "staff"
    return (
        Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    )


def _project_with_role(request: Request, slug: str, roles: tuple[str, ...]) -> Project:
    """The project if the user is in it (else 404) and has one of ``roles`` (else 403)."""
    user = _user(request)
    project = project_get_for_user(user=user, slug=slug)
    if not projects_for_user(user=user, roles=roles).filter(pk=project.pk).exists():
        raise PermissionDenied(
            f"Your role in '{slug}' may not do this (needs {' or '.join(roles)}).",
            details={"roles": list(roles)},
        )
    return project


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(
            f"{name}: must be a whole number", details={name: ["must be a whole number"]}
        ) from None
    if not 0 < value < 2**63:
        raise ValidationError(f"{name}: out of range", details={name: ["out of range"]})
    return value


def _bool_param(request: Request, name: str) -> bool | None:
    raw = (request.query_params.get(name) or "").lower()
    if raw == "":
        return None
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise ValidationError(
        f"{name}: must be true or false", details={name: ["must be true or false"]}
    )


class ById(CursorPagination):
    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class NewestFirst(CursorPagination):
    ordering = "-id"
    page_size = 50


# --- projects ------------------------------------------------------------------------


class ProjectListView(APIView):
    @extend_schema(
        summary="Projects you are a member of (staff: all)",
        responses=s.ProjectSerializer(many=True),
    )
    def get(self, request: Request) -> ApiResponse:
        user = _user(request)
        projects = projects_for_user(user=user).order_by("slug")
        roles = dict(Membership.objects.filter(user=user).values_list("project_id", "role"))
        if user.is_staff:
            roles = {p.pk: "staff" for p in projects}
        data = s.ProjectSerializer(projects, many=True, context={"roles": roles}).data
        return ApiResponse(data)

    @extend_schema(
        summary="Create a project (staff only)",
        request=s.ProjectCreateInput,
        responses={201: s.ProjectSerializer},
    )
    def post(self, request: Request) -> ApiResponse:
        user = _user(request)
        if not user.is_staff:
            raise PermissionDenied("Only staff may create projects.")
        body = s.ProjectCreateInput(data=request.data)
        body.is_valid(raise_exception=True)
        project = project_create(**body.validated_data)
        data = s.ProjectSerializer(project, context={"roles": {project.pk: "staff"}}).data
        return ApiResponse(data, status=status.HTTP_201_CREATED)


class ProjectDetailView(APIView):
    @extend_schema(summary="One project", responses=s.ProjectSerializer)
    def get(self, request: Request, slug: str) -> ApiResponse:
        user = _user(request)
        project = project_get_for_user(user=user, slug=slug)
        context = {"roles": {project.pk: _role(user, project)}}
        return ApiResponse(s.ProjectSerializer(project, context=context).data)

    @extend_schema(
        summary="Change a project's name or settings (project admins)",
        request=s.ProjectUpdateInput,
        responses=s.ProjectSerializer,
    )
    def patch(self, request: Request, slug: str) -> ApiResponse:
        user = _user(request)
        project = _project_with_role(request, slug, MANAGING_ROLES)
        body = s.ProjectUpdateInput(data=request.data)
        body.is_valid(raise_exception=True)
        project = project_update(project=project, **body.validated_data)
        context = {"roles": {project.pk: _role(user, project)}}
        return ApiResponse(s.ProjectSerializer(project, context=context).data)


# --- members -------------------------------------------------------------------------


class MemberListView(APIView):
    @extend_schema(
        summary="Members of a project (project admins)", responses=s.MemberSerializer(many=True)
    )
    def get(self, request: Request, slug: str) -> ApiResponse:
        project = _project_with_role(request, slug, MANAGING_ROLES)
        members = project.memberships.select_related("user").order_by("user__username")
        return ApiResponse(s.MemberSerializer(members, many=True).data)

    @extend_schema(
        summary="Add a member or change their role (project admins)",
        request=s.MemberSetInput,
        responses={200: s.MemberSerializer},
    )
    def post(self, request: Request, slug: str) -> ApiResponse:
        project = _project_with_role(request, slug, MANAGING_ROLES)
        body = s.MemberSetInput(data=request.data)
        body.is_valid(raise_exception=True)
        user = User.objects.filter(username=body.validated_data["username"]).first()
        if user is None:
            raise ValidationError("username: no such user", details={"username": ["no such user"]})
        membership = membership_set(project=project, user=user, role=body.validated_data["role"])
        return ApiResponse(s.MemberSerializer(membership).data)


class MemberDetailView(APIView):
    @extend_schema(summary="Remove a member (project admins)", responses={204: None})
    def delete(self, request: Request, slug: str, username: str) -> ApiResponse:
        project = _project_with_role(request, slug, MANAGING_ROLES)
        membership = project.memberships.filter(user__username=username).first()
        if membership is None:
            raise NotFound(f"'{username}' is not a member of '{slug}'.")
        membership_remove(membership=membership)
        return ApiResponse(status=status.HTTP_204_NO_CONTENT)


# --- items and responses -------------------------------------------------------------


def _items(project: Project) -> QuerySet[Item]:
    return Item.objects.filter(project=project).prefetch_related(
        Prefetch("responses", queryset=Response.objects.order_by("position"))
    )


class ItemListView(APIView):
    @extend_schema(
        operation_id="projects_items_list",
        summary="Items of a project, oldest first, with their responses (cursor pages)",
        parameters=[
            OpenApiParameter("external_id", str, description="Only the item with this id."),
            OpenApiParameter(
                "judged", bool, description="Only items with (true) or without (false) a judgement."
            ),
            OpenApiParameter(
                "cursor", str, description="From a previous page's next/previous link."
            ),
            OpenApiParameter("page_size", int, description="1 to 1000 (default 100)."),
        ],
        responses=s.ItemPage,
    )
    def get(self, request: Request, slug: str) -> ApiResponse:
        project = project_get_for_user(user=_user(request), slug=slug)
        items = _items(project)
        external_id = request.query_params.get("external_id")
        if external_id:
            items = items.filter(external_id=external_id)
        judged = _bool_param(request, "judged")
        if judged is not None:
            items = (
                items.filter(judgement_count__gt=0) if judged else items.filter(judgement_count=0)
            )
        paginator = ById()
        page = paginator.paginate_queryset(items, request, view=self)
        assert page is not None
        return paginator.get_paginated_response(s.ItemSerializer(page, many=True).data)

    @extend_schema(
        summary="Create items in bulk (project admins), all or nothing",
        description=(
            "The items in the native import format, through the import service: every row is"
            " checked first and nothing is written unless all are good (400 lists each bad row"
            " with its number and field). Items whose external_id exists already are kept."
        ),
        request=s.ItemsCreateInput,
        responses={201: s.ImportResultSerializer},
    )
    def post(self, request: Request, slug: str) -> ApiResponse:
        project = _project_with_role(request, slug, MANAGING_ROLES)
        body = s.ItemsCreateInput(data=request.data)
        body.is_valid(raise_exception=True)
        # The raw rows (not the serializer's copy) go to the importer, which owns the rules.
        data: Any = request.data
        rows = data["items"]
        source = io.BytesIO(b"\n".join(orjson.dumps(row) for row in rows))
        result = items_import(
            project=project,
            source=source,
            format="native",
            source_name=body.validated_data.get("source_name"),
            filename="api.jsonl",
        )
        return ApiResponse(s.ImportResultSerializer(result).data, status=status.HTTP_201_CREATED)


class ItemImportView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        summary="Import a file (project admins), all or nothing",
        description=(
            "Formats: native, trl, hh-rlhf, oasst, sharegpt (JSON Lines or a JSON array, .gz"
            " accepted). The same service as the pages and `manage.py import_items`."
        ),
        request={"multipart/form-data": s.ImportInput},
        responses={201: s.ImportResultSerializer},
    )
    def post(self, request: Request, slug: str) -> ApiResponse:
        project = _project_with_role(request, slug, MANAGING_ROLES)
        body = s.ImportInput(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        result = items_import(
            project=project,
            source=upload,
            format=body.validated_data["format"],
            source_name=body.validated_data.get("source_name"),
            filename=upload.name,
        )
        return ApiResponse(s.ImportResultSerializer(result).data, status=status.HTTP_201_CREATED)


class ItemDetailView(APIView):
    @extend_schema(summary="One item with its responses", responses=s.ItemSerializer)
    def get(self, request: Request, slug: str, item_id: int) -> ApiResponse:
        project = project_get_for_user(user=_user(request), slug=slug)
        item = _items(project).filter(pk=item_id).first()
        if item is None:
            raise NotFound(f"No item {item_id} in project '{slug}'.")
        return ApiResponse(s.ItemSerializer(item).data)


class ResponseListView(APIView):
    @extend_schema(summary="The responses of an item", responses=s.ResponseSerializer(many=True))
    def get(self, request: Request, slug: str, item_id: int) -> ApiResponse:
        project = project_get_for_user(user=_user(request), slug=slug)
        responses = Response.objects.filter(item__project=project, item_id=item_id)
        if not Item.objects.filter(project=project, pk=item_id).exists():
            raise NotFound(f"No item {item_id} in project '{slug}'.")
        return ApiResponse(s.ResponseSerializer(responses.order_by("position"), many=True).data)


class ItemSkipView(APIView):
    @extend_schema(
        summary="Give an item back; it is not offered to you again",
        request=s.SkipInput,
        responses={204: None},
    )
    def post(self, request: Request, slug: str, item_id: int) -> ApiResponse:
        user = _user(request)
        project = project_get_for_user(user=user, slug=slug)
        item = Item.objects.filter(project=project, pk=item_id).first()
        if item is None:
            raise NotFound(f"No item {item_id} in project '{slug}'.")
        body = s.SkipInput(data=request.data)
        body.is_valid(raise_exception=True)
        assignment_skip(project=project, user=user, item=item, reason=body.validated_data["reason"])
        return ApiResponse(status=status.HTTP_204_NO_CONTENT)


class NextView(APIView):
    @extend_schema(
        summary="Lease the next item to judge",
        description=(
            "The item you hold a live lease on, or a new lease on the next item that needs you"
            " (the same service as the workspace page). 204 when nothing is left for you."
            " Submit with POST /api/judgements/ before the lease expires."
        ),
        request=None,
        responses={200: s.AssignmentSerializer, 204: OpenApiResponse(description="Nothing left.")},
    )
    def post(self, request: Request, slug: str) -> ApiResponse:
        user = _user(request)
        project = project_get_for_user(user=user, slug=slug)
        lease = assignment_next(project=project, user=user)
        if lease is None:
            return ApiResponse(status=status.HTTP_204_NO_CONTENT)
        item = _items(project).get(pk=lease.item_id)
        data = {
            "id": lease.pk,
            "expires_at": lease.expires_at,
            "round": lease.round,
            "response_ids": round_response_ids(item=item, number=lease.round),
            "item": item,
        }
        return ApiResponse(s.AssignmentSerializer(data).data)


# --- judgements ----------------------------------------------------------------------


def _judgements(user: User) -> QuerySet[Judgement]:
    return judgements_for_user(user=user).select_related("item__project", "annotator")


def _submit(user: User, item: Item, fields: dict[str, Any]) -> Judgement:
    ratings = fields.get("ratings")
    return judgement_submit(
        user=user,
        item=item,
        ranking=fields.get("ranking"),
        both_bad=fields.get("both_bad", False),
        ratings=ratings,
        rationale=fields.get("rationale", ""),
        not_rankable=fields.get("not_rankable", False),
        flag_reason=fields.get("flag_reason", ""),
        shown_order=fields.get("shown_order"),
        time_spent_ms=fields.get("time_spent_ms"),
        round=fields.get("round"),
    )


class ProjectJudgementListView(APIView):
    @extend_schema(
        operation_id="projects_judgements_list",
        summary="Judgements of a project: your own, or all for project admins and staff",
        parameters=[
            OpenApiParameter("item", int, description="Only judgements of this item."),
            OpenApiParameter("annotator", str, description="Only this annotator's (username)."),
            OpenApiParameter(
                "current",
                bool,
                description="Only current versions (default true); false: history too.",
            ),
            OpenApiParameter("cursor", str, description="From a previous page's links."),
        ],
        responses=s.JudgementPage,
    )
    def get(self, request: Request, slug: str) -> ApiResponse:
        user = _user(request)
        project = project_get_for_user(user=user, slug=slug)
        judgements = _judgements(user).filter(item__project=project)
        item = _int_param(request, "item")
        if item is not None:
            judgements = judgements.filter(item_id=item)
        annotator = request.query_params.get("annotator")
        if annotator:
            judgements = judgements.filter(annotator__username=annotator)
        if _bool_param(request, "current") is not False:
            judgements = judgements.filter(is_current=True)
        paginator = ById()
        page = paginator.paginate_queryset(judgements, request, view=self)
        assert page is not None
        return paginator.get_paginated_response(s.JudgementSerializer(page, many=True).data)


class JudgementSubmitView(APIView):
    @extend_schema(
        summary="Submit a judgement (or a new version of yours) against your lease",
        description=(
            "The same service and rules as the workspace page: the ranking names every shown"
            " response once; ratings and rationale as the project asks. 409 when your lease ran"
            " out and the item no longer needs you. Submitting again for the same item records"
            " a new version and keeps the old one."
        ),
        request=s.JudgementSubmitInput,
        responses={201: s.JudgementSerializer},
    )
    def post(self, request: Request) -> ApiResponse:
        user = _user(request)
        body = s.JudgementSubmitInput(data=request.data)
        body.is_valid(raise_exception=True)
        item_id = body.validated_data["item"]
        item = (
            Item.objects.filter(project__in=projects_for_user(user=user).values("pk"), pk=item_id)
            .select_related("project")
            .first()
        )
        if item is None:
            raise NotFound(f"No item {item_id}.")
        judgement = _submit(user, item, body.validated_data)
        return ApiResponse(s.JudgementSerializer(judgement).data, status=status.HTTP_201_CREATED)


class JudgementDetailView(APIView):
    @extend_schema(
        summary="One judgement (yours; any for project admins)", responses=s.JudgementSerializer
    )
    def get(self, request: Request, judgement_id: int) -> ApiResponse:
        judgement = _judgements(_user(request)).filter(pk=judgement_id).first()
        if judgement is None:
            raise NotFound(f"No judgement {judgement_id}.")
        return ApiResponse(s.JudgementSerializer(judgement).data)

    @extend_schema(
        summary="Change your judgement: records a new version (the old one is kept)",
        request=s.JudgementFieldsInput,
        responses={201: s.JudgementSerializer},
    )
    def patch(self, request: Request, judgement_id: int) -> ApiResponse:
        user = _user(request)
        judgement = _judgements(user).filter(pk=judgement_id).first()
        if judgement is None:
            raise NotFound(f"No judgement {judgement_id}.")
        if judgement.annotator_id != user.pk:
            raise PermissionDenied("Only its annotator may change a judgement.")
        if not judgement.is_current:
            raise ValidationError(
                "This is an old version; change the current one.",
                details={"judgement": ["not the current version"]},
            )
        body = s.JudgementFieldsInput(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        fields = {
            "ranking": judgement.ranking,
            "both_bad": judgement.both_bad,
            "ratings": judgement.ratings or None,
            "rationale": judgement.rationale,
            "not_rankable": judgement.not_rankable,
            "flag_reason": judgement.flag_reason,
            "shown_order": judgement.shown_order,
            "time_spent_ms": judgement.time_spent_ms,
        }
        fields.update({k: v for k, v in body.validated_data.items() if k in request.data})
        fields["round"] = judgement.round  # a change is of the round it judged
        new = _submit(user, judgement.item, fields)
        return ApiResponse(s.JudgementSerializer(new).data, status=status.HTTP_201_CREATED)


# --- export --------------------------------------------------------------------------


class NDJSONRenderer(BaseRenderer):
    media_type = "application/x-ndjson"
    format = "jsonl"
    charset = None

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return b"" if data is None else orjson.dumps(data)


class ErrorsAsJSON(BaseContentNegotiation):
    """The export answers JSON Lines when it succeeds; errors are always JSON."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: Any, format_suffix: Any = None) -> Any:
        renderer = JSONRenderer()
        return renderer, renderer.media_type


EXPORT_PARAMETERS = [
    OpenApiParameter("format", str, enum=list(FORMATS), description="Row shape (default trl)."),
    OpenApiParameter(
        "pairs",
        str,
        enum=list(PAIR_MODES),
        description="How a ranking becomes pairs (default all).",
    ),
    OpenApiParameter(
        "ties",
        str,
        enum=["skip", "margin0"],
        description="Tied responses: no pair (skip, default) or a pair with margin 0.",
    ),
    OpenApiParameter(
        "margin", str, enum=list(MARGIN_MODES), description="Add a margin column for RewardTrainer."
    ),
    OpenApiParameter(
        "aggregate",
        str,
        enum=list(AGGREGATES),
        description="none: rows per judgement; consensus: per item (Copeland).",
    ),
    OpenApiParameter(
        "min_agreement", float, description="0 to 1: leave out items whose annotators agree less."
    ),
    OpenApiParameter(
        "min_judgements", int, description="Leave out items with fewer rankable judgements."
    ),
    OpenApiParameter(
        "since", OpenApiTypes.DATETIME, description="Judgements made at or after (ISO 8601)."
    ),
    OpenApiParameter(
        "until", OpenApiTypes.DATETIME, description="Judgements made before (ISO 8601)."
    ),
    OpenApiParameter("annotator", str, description="A user id or username."),
    OpenApiParameter("source", str, enum=["human", "imported"], description="Judgement source."),
    OpenApiParameter(
        "exclude_flagged", bool, description="Leave out flagged and unrankable judgements."
    ),
    OpenApiParameter(
        "split", str, enum=list(SPLITS), description="Stable split by a hash of the item."
    ),
    OpenApiParameter("test_fraction", float, description="0 to 1, with split (default 0.1)."),
]


class ExportView(APIView):
    renderer_classes = [JSONRenderer, NDJSONRenderer]
    content_negotiation_class = ErrorsAsJSON

    @extend_schema(
        summary="Stream the project's preference dataset as JSON Lines (admins, exporters)",
        description=(
            "Streams `application/x-ndjson`, one row per line, in a deterministic order; never"
            " built in memory. `X-Row-Count` is set when a COUNT can tell it (format=rankings"
            " without per-item filters). For a content hash, make a snapshot: it records the"
            " SHA-256 of the same bytes. See feedback/export/README.md for every format."
        ),
        parameters=EXPORT_PARAMETERS,
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                response=OpenApiTypes.STR, description="One JSON object per line."
            )
        },
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        project = _project_with_role(request, slug, EXPORTING_ROLES)
        params = export_params_parse(request.query_params.dict())
        count = export_row_count(project=project, params=params)
        stream = ExportStream(project=project, params=params)
        response = StreamingHttpResponse(iter(stream), content_type="application/x-ndjson")
        response["Content-Disposition"] = (
            f'attachment; filename="{project.slug}-{params.format}.jsonl"'
        )
        response["Cache-Control"] = "no-store"
        if count is not None:
            response["X-Row-Count"] = str(count)
        return response
