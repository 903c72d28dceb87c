"""`nox -s drills`: faults, bad input and containment (see harness/drills/__main__.py)."""
