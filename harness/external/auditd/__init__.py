"""The Linux audit daemon as an external detector (the module docstring of ``detector`` says how,
and what its default rule files were measured to miss).

- ``log``: an auditd log (RAW or ENRICHED) read into events, and events into alerts;
- ``kernel``: the kernel's audit state through auditctl;
- ``rules``: auditd's example rule files, minus the lines the lab owns;
- ``config``: the private daemon's configuration;
- ``detector``: ``AuditdDetector``, a private auditd for the length of a run, polled for alerts;
- ``reap``: cleaning up after a run that died.
"""

from harness.external.auditd.config import auditd_conf
from harness.external.auditd.detector import AuditdDetector
from harness.external.auditd.kernel import (
    AuditdError,
    AuditdUnavailable,
    AuditStatus,
    audit_rules,
    audit_status,
    find_binary,
    run_auditctl,
)
from harness.external.auditd.log import AuditEvent, EventAssembler, parse_audit_lines, parse_record, to_alerts
from harness.external.auditd.reap import reap_auditd
from harness.external.auditd.rules import DEFAULT_RULE_FILES, read_rule_files, rule_lines

__all__ = [
    "DEFAULT_RULE_FILES",
    "AuditEvent",
    "AuditStatus",
    "AuditdDetector",
    "AuditdError",
    "AuditdUnavailable",
    "EventAssembler",
    "audit_rules",
    "audit_status",
    "auditd_conf",
    "find_binary",
    "parse_audit_lines",
    "parse_record",
    "read_rule_files",
    "reap_auditd",
    "rule_lines",
    "run_auditctl",
    "to_alerts",
]
