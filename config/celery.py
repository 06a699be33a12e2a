"""The Celery application. Settings come from Django settings under the CELERY_ prefix.

Two queues: ``gpu`` takes training, generation and evaluation jobs (run its worker with
``--concurrency 1``: one job holds the accelerator at a time), ``default`` takes the
reaper and the retrain checks. See training/README.md for the worker commands.
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("feedback_loop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"))
app.autodiscover_tasks()
