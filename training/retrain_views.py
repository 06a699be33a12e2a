"""The project's retraining policy, as a page: when the loop retrains and what it promotes.

A door onto ``retrain_policy_save`` (the same service as the API's PUT), reached from the
project's settings and its navigation bar; below the form, the latest runs with how each
ended and why (a run the reward model's gate stopped says so, with its accuracy).
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError, NotFound, PermissionDenied
from training.models import RetrainPolicy
from training.selectors import retrain_runs_recent, training_project_get
from training.services.retrain import retrain_policy_save

FIELDS = (
    "enabled",
    "min_new_judgements",
    "policy_method",
    "win_rate_threshold",
    "eval_prompts",
    "check_every_seconds",
    "generate_after",
)


class RetrainPolicyForm(forms.ModelForm):
    class Meta:
        model = RetrainPolicy
        fields = list(FIELDS)
        labels = {
            "enabled": "Retrain automatically",
            "min_new_judgements": "New human judgements that start a run",
            "policy_method": "Policy method",
            "win_rate_threshold": "Promote the policy from this win rate (0-1)",
            "eval_prompts": "Held-out prompts for the comparison",
            "check_every_seconds": "Check every (seconds)",
            "generate_after": "Generate new candidates after a promotion",
        }

    def _post_clean(self) -> None:
        """The service validates (one set of rules)."""


@login_required
@require_http_methods(["GET", "POST"])
def retrain_policy_page(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        project = training_project_get(user=request.user, slug=slug)
    except NotFound as error:
        raise Http404(error.message) from error
    except PermissionDenied as error:
        raise DjangoPermissionDenied(error.message) from error
    policy = RetrainPolicy.objects.filter(project=project).first() or RetrainPolicy(project=project)
    form = RetrainPolicyForm(request.POST or None, instance=policy)
    if request.method == "POST" and form.is_valid():
        values: dict[str, Any] = {name: form.cleaned_data[name] for name in FIELDS}
        try:
            retrain_policy_save(project=project, **values)
        except ApplicationError as error:
            details = error.details if isinstance(error.details, dict) else {}
            for name, reasons in details.items():
                for reason in reasons if isinstance(reasons, list) else [reasons]:
                    form.add_error(name if name in form.fields else None, str(reason))
            if not details:
                form.add_error(None, error.message)
        else:
            messages.success(request, "Retraining policy saved.")
            return redirect("training-retrain-policy", slug=slug)
    runs = retrain_runs_recent(project=project)
    return render(
        request,
        "training/retrain_policy.html",
        {"project": project, "form": form, "runs": runs},
    )
