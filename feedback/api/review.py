"""Reviewing one judgement through the API (project admins):
``POST /api/projects/{slug}/judgements/{id}/review/`` with ``{"action": "accept" |
"reject", "note"?}`` records the action (``feedback.services.review``) and answers 201
with it; ``GET`` on the same URL answers the judgement's review history, oldest first.
"""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse

from core.errors import NotFound
from feedback.access import MANAGING_ROLES
from feedback.api.base import ProjectView
from feedback.models import Judgement, ReviewAction
from feedback.services.review import NOTE_MAX, judgement_accept, judgement_reject


class ReviewInput(serializers.Serializer[Any]):
    action = serializers.ChoiceField(choices=[a.value for a in ReviewAction.Action])
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=NOTE_MAX)


class ReviewActionSerializer(serializers.ModelSerializer[ReviewAction]):
    reviewer = serializers.CharField(source="reviewer.username")
    judgement_current = serializers.BooleanField(source="judgement.is_current")

    class Meta:
        model = ReviewAction
        fields = [
            "id",
            "judgement",
            "action",
            "reviewer",
            "note",
            "created_at",
            "judgement_current",
        ]


class JudgementReviewView(ProjectView):
    roles = MANAGING_ROLES
    denied_message = "Only the project's admins review its judgements."

    @extend_schema(
        summary="Accept or reject a judgement",
        description=(
            "`reject`: the judgement is kept in its history but leaves the export, the "
            "snapshots and the agreement figures, and its item goes back to the queue for "
            "one new judgement. `accept`: marks it reviewed. 409 for a judgement rejected "
            "already, accepted already, or replaced by a newer version."
        ),
        request=ReviewInput,
        responses={201: ReviewActionSerializer},
    )
    def post(self, request: Request, slug: str, judgement_id: int) -> ApiResponse:
        body = ReviewInput(data=request.data)
        body.is_valid(raise_exception=True)
        review = judgement_reject if body.validated_data["action"] == "reject" else judgement_accept
        action = review(
            project=self.project,
            reviewer=self.user,
            judgement_id=judgement_id,
            note=body.validated_data["note"],
        )
        action.judgement.refresh_from_db(fields=["is_current"])
        return ApiResponse(ReviewActionSerializer(action).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="A judgement's review history",
        responses={200: ReviewActionSerializer(many=True)},
    )
    def get(self, request: Request, slug: str, judgement_id: int) -> ApiResponse:
        if not Judgement.objects.filter(pk=judgement_id, item__project=self.project).exists():
            raise NotFound(f"No judgement {judgement_id} in project '{slug}'.")
        actions = (
            ReviewAction.objects.filter(judgement_id=judgement_id)
            .select_related("reviewer", "judgement")
            .order_by("id")
        )
        return ApiResponse(ReviewActionSerializer(actions, many=True).data)
