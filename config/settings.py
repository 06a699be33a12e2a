"""Settings for every environment, read from the environment (django-environ).

There is one settings module. Development is the default and needs nothing at all:
SQLite under ``var/`` and Celery on kombu's filesystem broker, so ``make demo`` runs
offline with no server. ``DJANGO_ENV=production`` turns DEBUG off, insists on a
SECRET_KEY and switches on the HTTPS hardening that ``check --deploy`` asks for.
"""

import sys
from pathlib import Path
from typing import Any

import environ
from csp.constants import NONE, SELF

from training.engine.catalog import METHODS  # plain Python, no Django: the one list of methods

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
# Django's development server (manage.py runserver, and make demo's web process).
RUNSERVER = len(sys.argv) > 1 and sys.argv[1] == "runserver"
PRODUCTION = DJANGO_ENV == "production"

# Where the embedded defaults keep their state: the SQLite file, the filesystem
# broker's folders, snapshots and model artifacts.
VAR_DIR = Path(env.str("FEEDBACK_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False) if PRODUCTION else env.bool("DEBUG", default=True)
if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")  # no default: refuse to start without one
else:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "core",
    "feedback",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A NUL or lone surrogate in the path or query string is a 400 (core/inputs.py).
    "core.middleware.InputGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Axes must be last: it answers locked-out logins.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "feedback.navigation.navigation",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'feedback.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default is shared by the web process, a worker and beat:
    # WAL lets readers and one writer work together, IMMEDIATE avoids upgrade deadlocks.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
else:
    # runserver serves each request in a thread of its own, so a persistent connection is
    # never reused and is left open when its thread ends: with 32 clients it filled
    # Postgres ("too many clients already"). Django's advice: no persistent connections
    # under runserver (each request closes its own). gunicorn and workers keep them.
    DATABASES["default"]["CONN_MAX_AGE"] = 0 if RUNSERVER else env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache and sessions --------------------------------------------------------------
# CACHE_URL names a cache every web process shares (redis://... in docker-compose and in
# the tests). With one, sessions are read from it (written through to the database, so a
# cache flush logs nobody out) and rendered Markdown is kept in it. Without one (the
# embedded default), each process has its own memory cache and sessions live in the
# database only: a per-process session cache would let a logged-out session live on in
# another process.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # Reuses its Redis clients; reads and writes fail open (see core/cache.py), give up on
    # a Redis that does not answer within CACHE_TIMEOUT_SECONDS, and stop calling one that
    # just failed for CACHE_BREAKER_SECONDS (a circuit breaker).
    CACHES["default"]["BACKEND"] = "core.cache.RedisCache"
    _cache_timeout = env.float("CACHE_TIMEOUT_SECONDS", default=0.25)
    CACHES["default"].setdefault("OPTIONS", {}).update(
        {
            "socket_connect_timeout": _cache_timeout,
            "socket_timeout": _cache_timeout,
            "breaker_seconds": env.float("CACHE_BREAKER_SECONDS", default=5.0),
        }
    )
CACHES["default"]["KEY_PREFIX"] = env.str("CACHE_KEY_PREFIX", default="feedback")
SHARED_CACHE = CACHES["default"]["BACKEND"] != "django.core.cache.backends.locmem.LocMemCache"
SESSION_ENGINE = (
    # cached_db, with logouts that survive an unreachable cache (core/sessions.py)
    "core.sessions" if SHARED_CACHE else "django.contrib.sessions.backends.db"
)

# --- auth ----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# Login rate limit (django-axes): lock a username+address after N failures.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
# Keyed by username *and* address: a failing client locks only that username from its own
# address, so many people behind one proxy cannot lock every account, nor one another out.
# The address is the client's, as core/client_ip.py reads it: X-Forwarded-For counts only
# when the request comes from one of TRUSTED_PROXIES (addresses or networks).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
AXES_CLIENT_IP_CALLABLE = "core.client_ip.client_ip"

# API throttling (core/throttling.py): N/second|minute|hour|day, or "off".
API_THROTTLE_RATES = {
    "user": env.str("API_THROTTLE_USER", default="1200/minute"),
    "anon": env.str("API_THROTTLE_ANON", default="120/minute"),
    "failed_auth": env.str("API_THROTTLE_FAILED_AUTH", default="30/minute"),
}

# --- i18n / time ---------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- static files --------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Where datasets snapshots and trained models live (a volume in docker-compose).
SNAPSHOT_DIR = Path(env.str("FEEDBACK_SNAPSHOT_DIR", default=str(VAR_DIR / "snapshots")))
ARTIFACT_DIR = Path(env.str("FEEDBACK_ARTIFACT_DIR", default=str(VAR_DIR / "models")))
# The base model every training kind starts from unless told otherwise: a hub id for
# users with internet, or a local directory (``manage.py build_tiny_model`` makes one).
BASE_MODEL = env.str("FEEDBACK_BASE_MODEL", default=str(VAR_DIR / "tiny-model"))
# Base models imported by ``manage.py import_model`` (a GGUF file -> a model directory), one
# folder each; jobs can start from any of them (the new-job page offers them).
BASE_MODELS_DIR = Path(env.str("FEEDBACK_BASE_MODELS_DIR", default=str(VAR_DIR / "base-models")))
# Hyperparameters every training job gets unless it gives its own, as JSON (fields a method does
# not have are ignored), e.g. '{"use_lora": true, "max_length": 256, "max_steps": 12}'.
TRAINING_DEFAULTS: dict[str, Any] = env.json("FEEDBACK_TRAINING_DEFAULTS", default={})

# Largest file an import accepts, in bytes (after decompression for .gz files).
FEEDBACK_IMPORT_MAX_BYTES = env.int("FEEDBACK_IMPORT_MAX_BYTES", default=100 * 1024 * 1024)
# Where uploaded files wait for a background import (shared by web and workers).
IMPORT_DIR = Path(env.str("FEEDBACK_IMPORT_DIR", default=str(VAR_DIR / "imports")))
# Seconds a background import may run (soft limit; the hard limit is a minute later).
IMPORT_TIME_LIMIT = env.int("FEEDBACK_IMPORT_TIME_LIMIT", default=60 * 60)

# --- security headers --------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# --- REST API ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an unauthenticated request then gets 401 with
        # "WWW-Authenticate: Token" rather than 403.
        "core.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Per user, per address without credentials, and per address for failed token
    # authentications (core.authentication): rates from the environment (core/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": [
        "core.throttling.UserRateThrottle",
        "core.throttling.AnonRateThrottle",
    ],
    # JSON only in production; the browsable API in development.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + ([] if PRODUCTION else ["rest_framework.renderers.BrowsableAPIRenderer"]),
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bodies only; the file import declares multipart itself.
    # Through core.inputs: depth limit, 64-bit integers, no NUL or lone surrogate.
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 100,
    # ``?format=`` belongs to the export (trl, kto, ...), not to renderer selection.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Feedback Loop API",
    "DESCRIPTION": "Collect human preferences, export them for TRL, train and promote models.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation documents the one error shape for each status it can answer.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema_add_error_responses",
    ],
    # Several models have a "kind" or a "status": name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "JobKindEnum": "training.models.JobKind",
        "JobStatusEnum": "training.models.TrainingJob.Status",
        "ModelVersionKindEnum": "training.models.ModelVersion.Kind",
        "ModelVersionStatusEnum": "training.models.ModelVersion.Status",
        "RetrainRunStatusEnum": "training.models.RetrainRun.Status",
        "RetrainRunStageEnum": "training.models.RetrainRun.Stage",
        "SnapshotStatusEnum": "training.models.DatasetSnapshot.Status",
        # Two inputs have a "format": the export's and the import's.
        "ExportFormatEnum": "feedback.export.params.FORMATS",
        "FormatEnum": "feedback.services.imports.IMPORT_FORMATS",
    },
}

# --- Celery --------------------------------------------------------------------------
# Job state lives in Postgres (training.models.TrainingJob); the broker only carries ids
# and the result backend is never read. Two queues: ``gpu`` for training, generation and
# evaluation (run it with concurrency 1), ``default`` for the reaper and the retrain checks.
#
# Time limits per job kind, in seconds (soft: the task is told and marks the job failed;
# hard: the child process is killed). A late-acked message must not come back while its
# job still runs, so the visibility timeout is longer than the longest hard limit.
# TRAINING_LIMIT_<METHOD> for each training method (defaults from training.engine.catalog.METHODS).
TRAINING_TIME_LIMITS: dict[str, int] = {
    **{
        m.name: env.int(f"TRAINING_LIMIT_{m.name.upper()}", default=m.time_limit_hours * 60 * 60)
        for m in METHODS.values()
    },
    "generate": env.int("TRAINING_LIMIT_GENERATE", default=2 * 60 * 60),
    "evaluate": env.int("TRAINING_LIMIT_EVALUATE", default=2 * 60 * 60),
}
# The hard limit is the soft limit plus this grace (the task cleans up in between).
TRAINING_HARD_LIMIT_GRACE = 5 * 60
# A running job whose heartbeat is older than this is presumed dead and re-queued by the
# reaper (the worker beats every TRAINING_HEARTBEAT_SECONDS while a job runs).
TRAINING_HEARTBEAT_SECONDS = env.float("TRAINING_HEARTBEAT_SECONDS", default=10.0)
TRAINING_STALE_AFTER_SECONDS = env.float("TRAINING_STALE_AFTER_SECONDS", default=120.0)
TRAINING_REAP_EVERY_SECONDS = env.float("TRAINING_REAP_EVERY_SECONDS", default=60.0)
# Progress and metrics are written at most this often; the cancel flag read at most this often.
TRAINING_FLUSH_SECONDS = env.float("TRAINING_FLUSH_SECONDS", default=2.0)
TRAINING_CANCEL_POLL_SECONDS = env.float("TRAINING_CANCEL_POLL_SECONDS", default=1.0)
TRAINING_MAX_ATTEMPTS = env.int("TRAINING_MAX_ATTEMPTS", default=3)
TRAINING_LOG_LINES = 200

_LONGEST_JOB = max(TRAINING_TIME_LIMITS.values()) + TRAINING_HARD_LIMIT_GRACE
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=_LONGEST_JOB + 60 * 60)

# The embedded default is kombu's filesystem transport under var/broker: no server.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        {
            "data_folder_in": str(BROKER_DIR / "queue"),
            "data_folder_out": str(BROKER_DIR / "queue"),
            "processed_folder": str(BROKER_DIR / "processed"),
            # Exchange-to-queue tables; kombu's default is ./control in the working directory.
            "control_folder": str(BROKER_DIR / "control"),
            "store_processed": False,
        }
    )
    # The filesystem transport has no fanout exchange for remote control.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "training.tasks.job_run": {"queue": "gpu"},
    "training.tasks.items_score": {"queue": "gpu"},
    "training.tasks.jobs_reap": {"queue": "default"},
    "training.tasks.retrain_check": {"queue": "default"},
    "training.tasks.retrain_advance": {"queue": "default"},
    "feedback.tasks.assignments_expire": {"queue": "default"},
    "feedback.tasks.project_render": {"queue": "default"},
    "feedback.tasks.import_run": {"queue": "default"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "training-reap-stale-jobs": {
        "task": "training.tasks.jobs_reap",
        "schedule": TRAINING_REAP_EVERY_SECONDS,
    },
    "feedback-expire-leases": {
        "task": "feedback.tasks.assignments_expire",
        "schedule": 60.0,
    },
}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- logging -------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
