"""Items, their responses, skips and the next-item lease."""

import io
from typing import Any

import orjson
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse

from core.errors import NotFound
from core.parsers import FormParser, MultiPartParser
from feedback.access import MANAGING_ROLES
from feedback.api import serializers as s
from feedback.api.base import ById, ProjectView, bool_param, text_param
from feedback.blind import sees_everything, shown_order_for, shown_responses
from feedback.models import Item, Project, Response
from feedback.selectors import round_response_ids
from feedback.services.assignments import assignment_next, assignment_skip
from feedback.services.imports import items_import

BLIND = (
    "Annotators are blind, as on the page: they get each response's id and content only,"
    " in the order shuffled for them (pairwise: the two shown), and no item metadata;"
    " model_name, source, position and metadata are for admins, exporters and staff."
)


def items_with_responses(project: Project) -> QuerySet[Item]:
    return (
        Item.objects.filter(project=project)
        .select_related("project")
        .prefetch_related(Prefetch("responses", queryset=Response.objects.order_by("position")))
    )


class ItemListView(ProjectView):
    method_roles = {"POST": MANAGING_ROLES}

    @extend_schema(
        operation_id="projects_items_list",
        summary="Items of a project, oldest first, with their responses (cursor pages)",
        description=BLIND,
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
        items = items_with_responses(self.project)
        external_id = text_param(request, "external_id")
        if external_id:
            items = items.filter(external_id=external_id)
        judged = bool_param(request, "judged")
        if judged is not None:
            items = (
                items.filter(judgement_count__gt=0) if judged else items.filter(judgement_count=0)
            )
        paginator = ById()
        page = paginator.paginate_queryset(items, request, view=self)
        assert page is not None
        data = s.items_data(page, user=self.user, role=self.role)
        return paginator.get_paginated_response(data)

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
        body = s.ItemsCreateInput(data=request.data)
        body.is_valid(raise_exception=True)
        # The raw rows (not the serializer's copy) go to the importer, which owns the rules.
        data: Any = request.data
        rows = data["items"]
        source = io.BytesIO(b"\n".join(orjson.dumps(row) for row in rows))
        result = items_import(
            project=self.project,
            source=source,
            format="native",
            source_name=body.validated_data.get("source_name"),
            filename="api.jsonl",
        )
        return ApiResponse(s.ImportResultSerializer(result).data, status=status.HTTP_201_CREATED)


class ItemImportView(ProjectView):
    roles = MANAGING_ROLES
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
        body = s.ImportInput(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        result = items_import(
            project=self.project,
            source=upload,
            format=body.validated_data["format"],
            source_name=body.validated_data.get("source_name"),
            filename=upload.name,
        )
        return ApiResponse(s.ImportResultSerializer(result).data, status=status.HTTP_201_CREATED)


class ItemDetailView(ProjectView):
    @extend_schema(
        summary="One item with its responses", description=BLIND, responses=s.ItemSerializer
    )
    def get(self, request: Request, slug: str, item_id: int) -> ApiResponse:
        item = items_with_responses(self.project).filter(pk=item_id).first()
        if item is None:
            raise NotFound(f"No item {item_id} in project '{slug}'.")
        return ApiResponse(s.item_data(item, user=self.user, role=self.role))


class ResponseListView(ProjectView):
    @extend_schema(
        summary="The responses of an item",
        description=BLIND,
        responses=s.ResponseSerializer(many=True),
    )
    def get(self, request: Request, slug: str, item_id: int) -> ApiResponse:
        item = Item.objects.filter(project=self.project, pk=item_id).select_related("project")
        found = item.first()
        if found is None:
            raise NotFound(f"No item {item_id} in project '{slug}'.")
        responses = Response.objects.filter(item=found).order_by("position")
        if sees_everything(self.role):
            return ApiResponse(s.ResponseSerializer(responses, many=True).data)
        shown = shown_responses(user=self.user, item=found, responses=responses)
        return ApiResponse(s.BlindResponseSerializer(shown, many=True).data)


class ItemSkipView(ProjectView):
    @extend_schema(
        summary="Give an item back; it is not offered to you again",
        request=s.SkipInput,
        responses={204: None},
    )
    def post(self, request: Request, slug: str, item_id: int) -> ApiResponse:
        item = Item.objects.filter(project=self.project, pk=item_id).first()
        if item is None:
            raise NotFound(f"No item {item_id} in project '{slug}'.")
        body = s.SkipInput(data=request.data)
        body.is_valid(raise_exception=True)
        assignment_skip(
            project=self.project, user=self.user, item=item, reason=body.validated_data["reason"]
        )
        return ApiResponse(status=status.HTTP_204_NO_CONTENT)


class NextView(ProjectView):
    @extend_schema(
        summary="Lease the next item to judge",
        description=(
            "The item you hold a live lease on, or a new lease on the next item that needs you"
            " (the same service as the workspace page). 204 when nothing is left for you."
            " Submit with POST /api/judgements/ before the lease expires. " + BLIND
        ),
        request=None,
        responses={200: s.AssignmentSerializer, 204: OpenApiResponse(description="Nothing left.")},
    )
    def post(self, request: Request, slug: str) -> ApiResponse:
        lease = assignment_next(project=self.project, user=self.user)
        if lease is None:
            return ApiResponse(status=status.HTTP_204_NO_CONTENT)
        item = items_with_responses(self.project).get(pk=lease.item_id)
        response_ids = round_response_ids(item=item, number=lease.round)
        if not sees_everything(self.role):
            # Blind: the round's responses in the order shuffled for this annotator.
            response_ids = shown_order_for(
                user=self.user, item=item, response_ids=response_ids, round=lease.round
            )
        data = {
            "id": lease.pk,
            "expires_at": lease.expires_at,
            "round": lease.round,
            "response_ids": response_ids,
            "item": item,
        }
        if sees_everything(self.role):
            return ApiResponse(s.AssignmentSerializer(data).data)
        context = {"user": self.user, "shown_ids": {item.pk: response_ids}}
        return ApiResponse(s.BlindAssignmentSerializer(data, context=context).data)
