"""Judgements: a project's list, submitting, reading and changing one's own."""

from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from core.errors import NotFound, PermissionDenied, ValidationError
from feedback.api import serializers as s
from feedback.api.base import (
    ById,
    ProjectView,
    bool_param,
    int_param,
    request_user,
    text_param,
)
from feedback.api.judgement_input import judgement_input_submit
from feedback.models import Item, Judgement
from feedback.selectors import judgements_for_user, projects_for_user


def _judgements(user: User) -> QuerySet[Judgement]:
    return judgements_for_user(user=user).select_related("item__project", "annotator")


class ProjectJudgementListView(ProjectView):
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
        judgements = _judgements(self.user).filter(item__project=self.project)
        item = int_param(request, "item")
        if item is not None:
            judgements = judgements.filter(item_id=item)
        annotator = text_param(request, "annotator", max_length=150)
        if annotator:
            judgements = judgements.filter(annotator__username=annotator)
        if bool_param(request, "current") is not False:
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
        user = request_user(request)
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
        judgement = judgement_input_submit(user=user, item=item, fields=body.validated_data)
        return ApiResponse(s.JudgementSerializer(judgement).data, status=status.HTTP_201_CREATED)


class JudgementDetailView(APIView):
    @extend_schema(
        summary="One judgement (yours; any for project admins)", responses=s.JudgementSerializer
    )
    def get(self, request: Request, judgement_id: int) -> ApiResponse:
        judgement = _judgements(request_user(request)).filter(pk=judgement_id).first()
        if judgement is None:
            raise NotFound(f"No judgement {judgement_id}.")
        return ApiResponse(s.JudgementSerializer(judgement).data)

    @extend_schema(
        summary="Change your judgement: records a new version (the old one is kept)",
        request=s.JudgementFieldsInput,
        responses={201: s.JudgementSerializer},
    )
    def patch(self, request: Request, judgement_id: int) -> ApiResponse:
        user = request_user(request)
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
        new = judgement_input_submit(user=user, item=judgement.item, fields=fields)
        return ApiResponse(s.JudgementSerializer(new).data, status=status.HTTP_201_CREATED)
