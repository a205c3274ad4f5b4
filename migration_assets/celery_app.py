"""The Celery app of every worker of a Celery run: ``celery -A migration_assets.celery_app worker`` (or
``dagster-celery worker start -A migration_assets.celery_app``). It is dagster-celery's own app and step task,
built from the same settings as the run's executor (factory.celery_settings: CELERY_BROKER_URL,
CELERY_BACKEND_URL, CELERY_VISIBILITY_TIMEOUT), so no worker config file can drift from the executor's."""

from __future__ import annotations

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from .factory import celery_settings

app = make_app(CeleryExecutor.for_cli(**celery_settings()).app_args())

execute_plan = create_task(app)
