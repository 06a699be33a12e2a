"""Django admin for every feedback model (staff only), scoped by the same selector as the
pages; the "add members" action calls ``membership_set``."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from core.errors import ApplicationError
from feedback.models import Assignment, Item, Judgement, Membership, Project, Response
from feedback.selectors import projects_for_user
from feedback.services.projects import membership_set


class AddMembersForm(forms.Form):
    users = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        widget=forms.SelectMultiple(attrs={"size": 12}),
    )
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.ANNOTATOR)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = [
        "name", "slug", "mode", "overlap", "order", "rationale", "ask_ratings", "created_at",
    ]  # fmt: skip
    list_filter = ["mode", "order", "rationale", "ask_ratings"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    actions = ["add_members"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Project]:
        return projects_for_user(user=request.user)

    @admin.action(description="Add members to the selected projects")
    def add_members(self, request: HttpRequest, queryset: QuerySet[Project]) -> HttpResponse | None:
        form = AddMembersForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            added = 0
            try:
                for project in queryset:
                    for user in form.cleaned_data["users"]:
                        membership_set(project=project, user=user, role=form.cleaned_data["role"])
                        added += 1
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)
                return None
            self.message_user(request, f"{added} memberships set.", messages.SUCCESS)
            return None
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Add members",
            "form": form,
            "projects": queryset,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/feedback/project/add_members.html", context)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__slug"]
    autocomplete_fields = ["user", "project"]


class ResponseInline(admin.StackedInline):
    model = Response
    extra = 0
    fields = ["position", "source", "model_name", "content"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["external_id", "project", "judgement_count", "created_at"]
    list_filter = ["project"]
    search_fields = ["external_id"]
    readonly_fields = ["judgement_count"]
    inlines = [ResponseInline]
    list_select_related = ["project"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Item]:
        visible = projects_for_user(user=request.user)
        return super().get_queryset(request).filter(project__in=visible)


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["pk", "item", "position", "source", "model_name", "created_at"]
    list_filter = ["source", "item__project"]
    search_fields = ["model_name", "item__external_id"]
    raw_id_fields = ["item"]
    list_select_related = ["item__project"]


@admin.register(Judgement)
class JudgementAdmin(admin.ModelAdmin):
    list_display = [
        "pk", "item", "annotator", "source", "version", "is_current", "not_rankable", "both_bad",
        "created_at",
    ]  # fmt: skip
    list_filter = ["source", "is_current", "not_rankable", "both_bad", "item__project"]
    search_fields = ["annotator__username", "item__external_id"]
    raw_id_fields = ["item", "annotator", "previous"]
    list_select_related = ["item__project", "annotator"]
    date_hierarchy = "created_at"


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["pk", "item", "annotator", "status", "expires_at", "created_at"]
    list_filter = ["status", "item__project"]
    search_fields = ["annotator__username", "item__external_id"]
    raw_id_fields = ["item", "annotator"]
    list_select_related = ["item__project", "annotator"]
