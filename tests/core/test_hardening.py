"""Issue 15's smaller things: tokens are never cached, throttling comes from the
environment, the client address is trusted only from a trusted proxy (login lock-out and
throttles), JSON only in production."""

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from core.client_ip import client_ip
from core.tokens import token_issue
from tests.core.test_settings import _settings_value

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fresh_throttles() -> None:
    cache.clear()


def test_token_answers_are_never_stored_by_a_cache() -> None:
    user = User.objects.create_user("tok", password=PASSWORD)
    api = APIClient()
    api.force_authenticate(user)
    answer = api.post("/api/token/")
    assert answer.status_code == 201 and answer["Cache-Control"] == "no-store"
    page = Client()
    page.force_login(user)
    shown = page.post("/account/token/")
    assert shown.status_code == 200 and "no-store" in shown["Cache-Control"]
    assert "no-store" in page.get("/account/token/")["Cache-Control"]


def test_failed_token_authentications_are_throttled_per_address(settings: Any) -> None:
    settings.API_THROTTLE_RATES = {"user": None, "anon": None, "failed_auth": "3/minute"}
    user = User.objects.create_user("right")
    token = token_issue(user=user)
    bad = APIClient(REMOTE_ADDR="203.0.113.5")
    bad.credentials(HTTP_AUTHORIZATION="Token wrong")
    assert [bad.get("/api/projects/").status_code for _ in range(3)] == [401] * 3
    refused = bad.get("/api/projects/")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "throttled"
    assert int(refused["Retry-After"]) >= 1
    # Past the limit even the right token waits, from that address; another address is fine.
    bad.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert bad.get("/api/projects/").status_code == 429
    good = APIClient(REMOTE_ADDR="198.51.100.7")
    good.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert good.get("/api/projects/").status_code == 200


def test_each_user_is_throttled_at_the_configured_rate(settings: Any) -> None:
    settings.API_THROTTLE_RATES = {"user": "5/minute", "anon": None, "failed_auth": None}
    api = APIClient()
    api.force_authenticate(User.objects.create_user("busy"))
    statuses = [api.get("/api/projects/").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    other = APIClient()
    other.force_authenticate(User.objects.create_user("calm"))
    assert other.get("/api/projects/").status_code == 200


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(settings: Any) -> None:
    factory = RequestFactory()
    forged = factory.get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert client_ip(forged) == "203.0.113.9"
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    proxied = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 10.0.0.3")
    assert client_ip(proxied) == "1.2.3.4"
    assert client_ip(forged) == "203.0.113.9"  # not from the proxy: the header is ignored
    broken = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-address")
    assert client_ip(broken) == "10.0.0.2"


def test_a_lockout_behind_a_shared_proxy_locks_one_username_from_one_client(
    settings: Any,
) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user("victim", password=PASSWORD)
    User.objects.create_user("bystander", password=PASSWORD)

    def login(username: str, password: str, client_address: str) -> int:
        client = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=client_address)
        answer = client.post("/login/", {"username": username, "password": password})
        status: int = answer.status_code
        return status

    for _ in range(3):
        login("victim", "wrong", "1.2.3.4")
    assert login("victim", PASSWORD, "1.2.3.4") == 429  # the attacker's client is locked
    assert login("victim", PASSWORD, "5.6.7.8") == 302  # the victim, behind the same proxy
    assert login("bystander", PASSWORD, "1.2.3.4") == 302  # other accounts: not locked


def test_production_answers_json_only() -> None:
    renderers = _settings_value(
        "settings.REST_FRAMEWORK['DEFAULT_RENDERER_CLASSES']",
        DJANGO_ENV="production",
        SECRET_KEY="x7Kq-" + "a9B3zR" * 10,
        ALLOWED_HOSTS="example.org",
    )
    assert renderers == "['rest_framework.renderers.JSONRenderer']"
    development = _settings_value("settings.REST_FRAMEWORK['DEFAULT_RENDERER_CLASSES']")
    assert "BrowsableAPIRenderer" in development


def test_favicon_ico_redirects_to_the_static_icon() -> None:
    answer = Client().get("/favicon.ico")
    assert answer.status_code == 302 and answer["Location"].endswith(".svg")
    # The file that URL names, found as runserver's static view finds it.
    prefix = "/" + django_settings.STATIC_URL.lstrip("/")
    found = finders.find(answer["Location"].removeprefix(prefix))
    assert found and "<svg" in Path(str(found)).read_text(encoding="utf-8")
