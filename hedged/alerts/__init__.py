"""Structured incidents, the durable incident store, and delivery to Telegram / Lark / webhook.

Public surface: `Alerter` (its `alert()` and `run()`), `IncidentStore`, the settings
dataclasses and `Severity`. Import from here, not from the modules.
"""

from hedged.alerts.alerter import Alerter, AlerterStats
from hedged.alerts.incident import Incident, Redactor
from hedged.alerts.settings import AlertSettings, LarkSettings, Severity, TelegramSettings, WebhookSettings
from hedged.alerts.store import IncidentRecord, IncidentStore

__all__ = [
    "AlertSettings",
    "Alerter",
    "AlerterStats",
    "Incident",
    "IncidentRecord",
    "IncidentStore",
    "LarkSettings",
    "Redactor",
    "Severity",
    "TelegramSettings",
    "WebhookSettings",
]
