"""The shipped policy kinds, one module each; ``detectors.policies.policy_kinds`` imports them.

Each module declares one ``PolicyKind`` dataclass: its fields are the schema of the kind's files
(``docs/policy.md`` is generated from them), its ``enrich`` the ``policy.*`` fields it writes.
"""

SHIPPED = ("trust", "platform_networks", "images", "privileged_agents", "minimal_logging", "log_retention",
           "log_collection", "engine_config", "orchestration", "egress", "network_baseline", "declared_changes",
           "resources", "kubernetes")
