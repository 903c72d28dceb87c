"""Grading other detectors (Falco, Tetragon, a SIEM, auditd) on the same scenarios as the embedded ones."""
