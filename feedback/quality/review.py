"""The review queue of a project: the items an admin should look at, and why.

An item is in the queue for one or more *kinds* of reason:

- ``low_agreement``: its annotators disagree: the item's Krippendorff alpha (``1 -
  D_o(item) / D_e(project)``, ``feedback.quality.item_alpha``) is below ``LOW_AGREEMENT``,
  the level under which Krippendorff advises against drawing even tentative conclusions
  (K. Krippendorff, *Content Analysis*, 2nd ed., 2004, section 12.4: alpha >= .667);
- ``cannot_rank``: an annotator flagged it as one that cannot be ranked, with a reason;
- ``skip``: an annotator skipped it (with their reason, if they gave one);
- ``gold_miss``: a gold item whose judgement disagrees with the expected answer
  (``feedback.services.gold.gold_score`` below 1).

``state="open"`` (the default) leaves out what was dealt with: a judgement an admin
accepted (or rejected: it is no longer current) no longer puts its item in the queue, an
item with low agreement stays while one of its current judgements is not reviewed, and a
skip stays while its item still needs judgements. ``state="all"`` shows every reason, and
one more kind: ``rejected``, items with a judgement an admin rejected.

The queue is read in a fixed number of queries, whatever the page or the project: the
reasons first (item ids only), then the one page of items with their responses,
judgements, review history and skips.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.utils.safestring import SafeString

from core.errors import ValidationError
from feedback.models import Assignment, Item, Judgement, Project, Response, ReviewAction
from feedback.quality.item_alpha import item_alphas
from feedback.rendering import markdown_render_many, render_key
from feedback.services.gold import gold_score
from feedback.services.rendering import message_texts, messages_key

LOW_AGREEMENT = 0.667
KINDS = ("low_agreement", "cannot_rank", "skip", "gold_miss", "rejected")
KIND_LABELS = {
    "low_agreement": "Low agreement",
    "cannot_rank": "Cannot rank",
    "skip": "Skipped",
    "gold_miss": "Gold miss",
    "rejected": "Rejected",
}
STATES = ("open", "all")
PAGE_SIZE = 20
LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass
class ReviewResponse:
    id: int
    label: str
    model_name: str
    html: SafeString


@dataclass
class ReviewHistory:
    action: str
    reviewer: str
    at: datetime
    note: str


@dataclass
class ReviewJudgement:
    judgement: Judgement
    annotator: str
    # Per response of the item, in the item's order: (rank or None, rating or None).
    cells: list[tuple[int | None, int | None]]
    status: str  # "", "accepted" or "rejected"
    kinds: list[str]
    history: list[ReviewHistory] = field(default_factory=list)

    @property
    def reviewable(self) -> bool:
        return self.judgement.is_current


@dataclass
class ReviewSkip:
    annotator: str
    reason: str
    at: datetime


@dataclass
class ReviewItem:
    item: Item
    kinds: list[str]
    alpha: float | None  # the item's Krippendorff alpha, where two annotators ranked it
    messages: list[tuple[str, SafeString]]
    responses: list[ReviewResponse]
    judgements: list[ReviewJudgement]
    skips: list[ReviewSkip]


@dataclass
class ReviewQueue:
    items: list[ReviewItem]
    total: int
    page: int
    pages: int
    counts: dict[str, int]  # items per kind, before the kind filter
    annotators: list[str]  # who appears in the queue (for the filter)


def _choice(value: str | None, choices: tuple[str, ...], name: str) -> str | None:
    if value in (None, ""):
        return None
    if value not in choices:
        reason = f"must be one of {', '.join(choices)}"
        raise ValidationError(f"{name}: {reason}", details={name: [reason]})
    return value


def _reasons(
    *, project: Project, state: str
) -> tuple[dict[int, dict[str, set[int]]], dict[int, float]]:
    """Per item id, per kind, the ids of the annotators it concerns."""
    reasons: dict[int, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    current = Judgement.objects.filter(item__project=project, is_current=True)
    if state == "open":
        current = current.exclude(review_actions__action=ReviewAction.Action.ACCEPT)

    for item_id, annotator_id in current.filter(not_rankable=True).values_list(
        "item_id", "annotator_id"
    ):
        reasons[item_id]["cannot_rank"].add(annotator_id)

    gold = current.filter(item__is_gold=True, not_rankable=False).values_list(
        "item_id",
        "annotator_id",
        "ranking",
        "both_bad",
        "item__gold_ranking",
        "item__gold_both_bad",
    )
    for item_id, annotator_id, ranking, both_bad, gold_ranking, gold_both_bad in gold:
        score = gold_score(
            mode=project.mode,
            ranking=ranking,
            both_bad=both_bad,
            gold_ranking=gold_ranking or [],
            gold_both_bad=gold_both_bad,
        )
        if score is not None and score < 1.0:
            reasons[item_id]["gold_miss"].add(annotator_id)

    skips = Assignment.objects.filter(item__project=project, status=Assignment.Status.SKIPPED)
    if state == "open":
        skips = skips.filter(item__judgement_count__lt=project.overlap)
    for item_id, annotator_id in skips.values_list("item_id", "annotator_id"):
        reasons[item_id]["skip"].add(annotator_id)

    if state == "all":
        rejected = ReviewAction.objects.filter(
            project=project, action=ReviewAction.Action.REJECT, judgement__is_current=False
        ).values_list("judgement__item_id", "judgement__annotator_id")
        for item_id, annotator_id in rejected:
            reasons[item_id]["rejected"].add(annotator_id)

    alphas = item_alphas(project=project)
    low = {item for item, a in alphas.items() if a < LOW_AGREEMENT}
    if low:
        # The whole project's (item, annotator) pairs, filtered here: an IN list of
        # thousands of ids costs more to send than these rows cost to read.
        judged = current.filter(not_rankable=False).values_list("item_id", "annotator_id")
        for item_id, annotator_id in judged:
            if item_id in low:
                reasons[item_id]["low_agreement"].add(annotator_id)
    return reasons, alphas


def review_queue(
    *,
    project: Project,
    kind: str | None = None,
    annotator: str | None = None,
    state: str | None = None,
    page: int = 1,
    page_size: int | None = None,
) -> ReviewQueue:
    """One page of ``project``'s review queue, filtered by ``kind`` and by ``annotator``
    (a username). Bad filters raise ValidationError naming the parameter."""
    kind = _choice(kind, KINDS, "kind")
    state = _choice(state, STATES, "state") or "open"
    reasons, alphas = _reasons(project=project, state=state)
    people = {a for kinds in reasons.values() for ids in kinds.values() for a in ids}
    names = dict(User.objects.filter(pk__in=people).values_list("pk", "username"))
    counts = {k: sum(1 for kinds in reasons.values() if kinds.get(k)) for k in KINDS}
    wanted = None
    if annotator:
        wanted = next((pk for pk, name in names.items() if name == annotator), -1)

    def keep(kinds: dict[str, set[int]]) -> bool:
        chosen = [kinds[kind]] if kind else [ids for ids in kinds.values() if ids]
        return any(ids and (wanted is None or wanted in ids) for ids in chosen)

    ids = sorted(item_id for item_id, kinds in reasons.items() if keep(kinds))
    paginator = Paginator(ids, page_size or PAGE_SIZE)
    current_page = paginator.get_page(page)
    page_ids = list(current_page.object_list)
    return ReviewQueue(
        items=_items(project=project, ids=page_ids, reasons=reasons, alphas=alphas),
        total=len(ids),
        page=current_page.number,
        pages=paginator.num_pages,
        counts=counts,
        annotators=sorted(names.values()),
    )


def _items(
    *,
    project: Project,
    ids: list[int],
    reasons: dict[int, dict[str, set[int]]],
    alphas: dict[int, float],
) -> list[ReviewItem]:
    """The page's items, read in five queries."""
    if not ids:
        return []
    items = {i.pk: i for i in Item.objects.filter(pk__in=ids)}
    responses: dict[int, list[Response]] = defaultdict(list)
    for response in Response.objects.filter(item_id__in=ids).order_by("item_id", "position"):
        responses[response.item_id].append(response)
    judgements = list(
        Judgement.objects.filter(item_id__in=ids)
        .select_related("annotator")
        .order_by("item_id", "annotator__username", "id")
    )
    followed = {j.previous_id for j in judgements if j.previous_id is not None}
    history: dict[int, list[ReviewHistory]] = defaultdict(list)
    for action in (
        ReviewAction.objects.filter(judgement__item_id__in=ids)
        .select_related("reviewer")
        .order_by("id")
    ):
        history[action.judgement_id].append(
            ReviewHistory(
                action=action.action,
                reviewer=action.reviewer.username,
                at=action.created_at,
                note=action.note,
            )
        )
    skips: dict[int, list[ReviewSkip]] = defaultdict(list)
    for skip in (
        Assignment.objects.filter(item_id__in=ids, status=Assignment.Status.SKIPPED)
        .select_related("annotator")
        .order_by("id")
    ):
        skips[skip.item_id].append(
            ReviewSkip(
                annotator=skip.annotator.username, reason=skip.skip_reason, at=skip.updated_at
            )
        )

    # Every text of the page rendered at once (stored renderings where still valid).
    texts: list[str] = []
    stored: list[str | None] = []
    for item_id in ids:
        for response in responses[item_id]:
            texts.append(response.content)
            valid = response.content_html_key == render_key(response.content)
            stored.append(response.content_html if valid else None)
        contents = message_texts(items[item_id].messages)
        valid = items[item_id].messages_html_key == messages_key(contents)
        valid = valid and len(items[item_id].messages_html) == len(contents)
        texts += contents
        stored += list(items[item_id].messages_html) if valid else [None] * len(contents)
    rendered = iter(markdown_render_many(texts, stored=stored))

    by_item: dict[int, list[Judgement]] = defaultdict(list)
    for judgement in judgements:
        # Current judgements and rejected ones; older versions of an edit are left out.
        if judgement.is_current or judgement.pk not in followed:
            by_item[judgement.item_id].append(judgement)
    out = []
    for item_id in ids:
        item = items[item_id]
        shown = [
            ReviewResponse(
                id=r.pk,
                label=LABELS[n % len(LABELS)],
                model_name=r.model_name,
                html=next(rendered),
            )
            for n, r in enumerate(responses[item_id])
        ]
        messages = [
            (str(m.get("role", "")), next(rendered))
            for m in (item.messages or [])
            if isinstance(m, dict)
        ]
        kinds = reasons.get(item_id, {})
        rows = []
        for judgement in by_item[item_id]:
            rank = {pk: n + 1 for n, group in enumerate(judgement.ranking) for pk in group}
            ratings = judgement.ratings or {}
            past = history.get(judgement.pk, [])
            if not judgement.is_current:
                status = "rejected"
            elif past and past[-1].action == ReviewAction.Action.ACCEPT:
                status = "accepted"
            else:
                status = ""
            rows.append(
                ReviewJudgement(
                    judgement=judgement,
                    annotator=judgement.annotator.username,
                    cells=[(rank.get(r.id), ratings.get(str(r.id))) for r in shown],
                    status=status,
                    kinds=[
                        k
                        for k in ("cannot_rank", "gold_miss")
                        if judgement.annotator_id in kinds.get(k, ())
                    ],
                    history=past,
                )
            )
        out.append(
            ReviewItem(
                item=item,
                kinds=[k for k in KINDS if kinds.get(k)],
                alpha=alphas.get(item_id),
                messages=messages,
                responses=shown,
                judgements=rows,
                skips=skips[item_id],
            )
        )
    return out
