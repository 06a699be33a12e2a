"""Projects and their members."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from core.errors import NotFound, PermissionDenied
from feedback.access import MANAGING_ROLES
from feedback.api import serializers as s
from feedback.api.base import ProjectView, request_user
from feedback.models import Membership
from feedback.selectors import projects_for_user
from feedback.services.members import member_find
from feedback.services.projects import (
    membership_remove,
    membership_set,
    project_create,
    project_update,
)


class ProjectListView(APIView):
    @extend_schema(
        summary="Projects you are a member of (staff: all)",
        responses=s.ProjectSerializer(many=True),
    )
    def get(self, request: Request) -> ApiResponse:
        user = request_user(request)
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
        user = request_user(request)
        if not user.is_staff:
            raise PermissionDenied("Only staff may create projects.")
        body = s.ProjectCreateInput(data=request.data)
        body.is_valid(raise_exception=True)
        project = project_create(**body.validated_data)
        data = s.ProjectSerializer(project, context={"roles": {project.pk: "staff"}}).data
        return ApiResponse(data, status=status.HTTP_201_CREATED)


class ProjectDetailView(ProjectView):
    method_roles = {"PATCH": MANAGING_ROLES}

    @extend_schema(summary="One project", responses=s.ProjectSerializer)
    def get(self, request: Request, slug: str) -> ApiResponse:
        context = {"roles": {self.project.pk: self.role}}
        return ApiResponse(s.ProjectSerializer(self.project, context=context).data)

    @extend_schema(
        summary="Change a project's name or settings (project admins)",
        request=s.ProjectUpdateInput,
        responses=s.ProjectSerializer,
    )
    def patch(self, request: Request, slug: str) -> ApiResponse:
        body = s.ProjectUpdateInput(data=request.data)
        body.is_valid(raise_exception=True)
        project = project_update(project=self.project, **body.validated_data)
        context = {"roles": {project.pk: self.role}}
        return ApiResponse(s.ProjectSerializer(project, context=context).data)


class MemberListView(ProjectView):
    roles = MANAGING_ROLES

    @extend_schema(
        summary="Members of a project (project admins)", responses=s.MemberSerializer(many=True)
    )
    def get(self, request: Request, slug: str) -> ApiResponse:
        members = self.project.memberships.select_related("user").order_by("user__username")
        return ApiResponse(s.MemberSerializer(members, many=True).data)

    @extend_schema(
        summary="Add a member or change their role (project admins)",
        request=s.MemberSetInput,
        responses={200: s.MemberSerializer},
    )
    def post(self, request: Request, slug: str) -> ApiResponse:
        body = s.MemberSetInput(data=request.data)
        body.is_valid(raise_exception=True)
        user = member_find(actor=self.user, name=body.validated_data["username"])
        membership = membership_set(
            project=self.project, user=user, role=body.validated_data["role"]
        )
        return ApiResponse(s.MemberSerializer(membership).data)


class MemberDetailView(ProjectView):
    roles = MANAGING_ROLES

    @extend_schema(summary="Remove a member (project admins)", responses={204: None})
    def delete(self, request: Request, slug: str, username: str) -> ApiResponse:
        membership = self.project.memberships.filter(user__username=username).first()
        if membership is None:
            raise NotFound(f"'{username}' is not a member of '{slug}'.")
        membership_remove(membership=membership)
        return ApiResponse(status=status.HTTP_204_NO_CONTENT)
