"""Alertmanager's configuration for :class:`~components.monitoring.Monitoring` (internal).

Receivers follow the Alertmanager configuration reference
(https://prometheus.io/docs/alerting/latest/configuration/); ``amtool check-config`` validates the result in
tests/monitoring/test_promtool.py.
"""

from __future__ import annotations

from typing import Any


def _pagerduty_receiver(routing_key: str) -> dict[str, Any]:
    """The PagerDuty Events v2 receiver."""
    return {
        "name": "pagerduty",
        "pagerduty_configs": [
            {
                "routing_key": routing_key,
                "send_resolved": True,
                "description": '{{ .CommonAnnotations.summary }}{{ if eq .CommonAnnotations.summary "" }}{{ .GroupLabels.alertname }}{{ end }}',
            }
        ],
    }


def _slack_receiver(channel: str, webhook_url: str) -> dict[str, Any]:
    """The Slack receiver: one message per group, severity and runbook in the text."""
    return {
        "name": "slack",
        "slack_configs": [
            {
                "api_url": webhook_url,
                "channel": channel,
                "send_resolved": True,
                "title": "[{{ .Status | toUpper }}] {{ .GroupLabels.alertname }} ({{ .CommonLabels.cluster }})",
                "text": "{{ range .Alerts }}*{{ .Labels.severity }}* {{ .Annotations.summary }}\n{{ .Annotations.description }}\n{{ if .Annotations.runbook_url }}Runbook: {{ .Annotations.runbook_url }}\n{{ end }}{{ end }}",
            }
        ],
    }


def alertmanager_config(
    *, cluster: str, slack_channel: str | None, slack_webhook_url: str | None, pagerduty_routing_key: str | None
) -> dict[str, Any]:
    """Alertmanager's configuration: critical alerts page (PagerDuty), everything goes to Slack.

    Without any receiver configured alerts are still evaluated and visible in Alertmanager's UI.
    """
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    routes: list[dict[str, Any]] = [
        # Watchdog always fires (a dead man's switch for an external monitor); InfoInhibitor only inhibits.
        {"receiver": "null", "matchers": ['alertname = "Watchdog"']},
        {"receiver": "null", "matchers": ['alertname = "InfoInhibitor"']},
    ]
    default = "null"
    if pagerduty_routing_key:
        receivers.append(_pagerduty_receiver(pagerduty_routing_key))
        # `continue` so critical alerts also reach the Slack channel.
        routes.append({"receiver": "pagerduty", "matchers": ['severity = "critical"'], "continue": True})
    if slack_channel and slack_webhook_url:
        receivers.append(_slack_receiver(slack_channel, slack_webhook_url))
        # A matched child route (even with `continue`) stops the fall-back to the root receiver, so
        # Slack needs its own catch-all route after the PagerDuty one.
        routes.append({"receiver": "slack"})
        default = "slack"
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": default,
            "group_by": ["alertname", "cluster", "namespace"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": [
            # A critical alert silences the warning of the same name on the same object.
            {
                "source_matchers": ['severity = "critical"'],
                "target_matchers": ['severity =~ "warning|info"'],
                "equal": ["cluster", "namespace", "alertname"],
            },
            {
                "source_matchers": ['alertname = "InfoInhibitor"'],
                "target_matchers": ['severity = "info"'],
                "equal": ["namespace"],
            },
        ],
        "receivers": receivers,
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }
