"""Stowaway's local Sigma engine: rule files -> compiled closures -> an indexed RuleSet.

Rules stay plain Sigma (spec 2.0) so that ``sigma-cli`` can carry them into a SIEM unchanged; this
package evaluates them locally against flat ECS-style events. Which events a logsource means is one
table, ``detectors.sigma.logsources``, that the pySigma pipeline ``stowaway`` applies as well.
"""

from detectors.sigma.errors import SigmaRuleError
from detectors.sigma.logsources import EventSource, LogSource, resolve
from detectors.sigma.rule import LEVELS, CompiledRule, compile_rule, load_rule
from detectors.sigma.ruleset import RuleSet

__all__ = ["LEVELS", "CompiledRule", "EventSource", "LogSource", "RuleSet", "SigmaRuleError", "compile_rule",
           "load_rule", "resolve"]
